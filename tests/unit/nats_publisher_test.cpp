// nats_publisher_test: NatsPublisher against a real nats-server with JetStream on loopback,
// driven by a real libev loop as the client thread drives it, with a PublishEvents that records
// what it hears: every message taken is reported once, acknowledged messages are in the stream
// in order with their Nats-Msg-Id, resends are dropped as duplicates, ordered=1 refuses to store
// a message behind one that is not the stream's last, a missing server fails every message in
// bounded time, and bad options are refused naming the option.
#include <ev.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "destination_shared.hpp"
#include "endpoint.hpp"
#include "nats_cluster.hpp"
#include "publisher.hpp"
#include "sockets.hpp"
#include "timeouts.hpp"

namespace relay {
namespace {

using namespace std::chrono_literals;

// Records what the publisher reports; wake() is an ev_async, so poll() runs on the loop's thread
// as PublishDestination arranges it.
class Recorder final : public PublishEvents {
 public:
  explicit Recorder(struct ev_loop* loop) : loop_(loop) {
    ev_async_init(&async_, [](struct ev_loop*, ev_async* w, int) {
      auto* self = static_cast<Recorder*>(w->data);
      if (self->publisher != nullptr) self->publisher->poll();
    });
    async_.data = this;
    ev_async_start(loop_, &async_);
  }
  ~Recorder() { ev_async_stop(loop_, &async_); }

  void acknowledged(std::uint64_t id) override { ++acks[id]; }
  void failed(std::uint64_t id, std::string_view why) override {
    ++failures[id];
    last_failure = std::string(why);
  }
  void rejected(std::uint64_t id, std::string_view why) override {
    ++rejections[id];
    last_failure = std::string(why);
  }
  void connection(DestinationState state, std::string_view error) override {
    states.push_back(state);
    if (!error.empty()) last_error = std::string(error);
  }
  void wake() noexcept override { ev_async_send(loop_, &async_); }

  std::size_t reported() const {
    std::size_t n = 0;
    for (const auto& [id, c] : acks) n += c;
    for (const auto& [id, c] : failures) n += c;
    return n;
  }

  Publisher* publisher = nullptr;
  std::map<std::uint64_t, int> acks;
  std::map<std::uint64_t, int> failures;
  std::map<std::uint64_t, int> rejections;
  std::vector<DestinationState> states;
  std::string last_failure;
  std::string last_error;

 private:
  struct ev_loop* loop_;
  ev_async async_;
};

class NatsPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override { loop_ = ev_loop_new(EVFLAG_AUTO); }
  void TearDown() override {
    publishers_.clear();
    recorders_.clear();
    ev_loop_destroy(loop_);
  }

  // A started publisher for `address` and its recorder.
  std::pair<Publisher*, Recorder*> open(const std::string& address) {
    auto shared = std::make_shared<DestinationShared>(1, parse_endpoint(address));
    auto publisher = make_publisher(shared->endpoint);
    auto recorder = std::make_unique<Recorder>(loop_);
    recorder->publisher = publisher.get();
    publisher->start(loop_, *recorder, *shared);
    shareds_.push_back(shared);
    auto result = std::make_pair(publisher.get(), recorder.get());
    recorders_.push_back(std::move(recorder));
    publishers_.push_back(std::move(publisher));
    return result;
  }

  // Runs the loop until `done` or `timeout` (scaled).
  template <typename Pred>
  bool run_until(Pred done, std::chrono::milliseconds timeout) {
    const auto deadline = test::Clock::now() + test::scaled(timeout);
    // Bounds each loop iteration, so the deadline is checked, and polls every publisher as the
    // client thread's tick does (a publisher measures its acknowledgement timeout there).
    ev_timer tick;
    ev_timer_init(
        &tick,
        [](struct ev_loop*, ev_timer* w, int) {
          for (const auto& p : static_cast<NatsPublisherTest*>(w->data)->publishers_) p->poll();
        },
        0.01, 0.01);
    tick.data = this;
    ev_timer_start(loop_, &tick);
    bool ok = done();  // once per iteration: `done` may act (publish) as well as test
    while (!ok && test::Clock::now() < deadline) {
      ev_run(loop_, EVRUN_ONCE);
      ok = done();
    }
    ev_timer_stop(loop_, &tick);
    return ok;
  }

  // Publishes ids [first, first+count) in order, running the loop while the publisher is full.
  void publish_all(Publisher* p, std::uint64_t first, std::uint64_t count, const std::string& tag = "m") {
    for (std::uint64_t id = first; id < first + count; ++id) {
      const std::string payload = tag + std::to_string(id);
      const auto bytes = std::as_bytes(std::span(payload.data(), payload.size()));
      ASSERT_TRUE(run_until([&] { return p->publish(id, bytes); }, 10s)) << "publisher stayed full at id " << id;
    }
  }

  struct ev_loop* loop_ = nullptr;
  std::vector<std::shared_ptr<DestinationShared>> shareds_;
  std::vector<std::unique_ptr<Recorder>> recorders_;
  std::vector<std::unique_ptr<Publisher>> publishers_;
};

std::string id_suffix(const std::string& msg_id) { return msg_id.substr(msg_id.rfind('-') + 1); }

// A message larger than the server's max_payload can never be stored: it is reported rejected
// (dropped and counted by the destination), not failed and resent forever; the next one is stored.
TEST_F(NatsPublisherTest, AMessageOverMaxPayloadIsRejectedNotResent) {
  test::NatsCluster nats(1);
  ASSERT_TRUE(nats.add_stream("RELAY", "relay.test", 1));
  auto [p, rec] = open("nats@" + nats.servers() + "/relay.test?msg_id_prefix=big");
  ASSERT_TRUE(
      run_until([&] { return !rec->states.empty() && rec->states.back() == DestinationState::connected; }, 10s));
  const std::string huge(2 * 1024 * 1024, 'x');  // nats-server's default max_payload is 1 MiB
  ASSERT_TRUE(run_until([&] { return p->publish(0, std::as_bytes(std::span(huge.data(), huge.size()))); }, 10s));
  ASSERT_TRUE(run_until([&] { return rec->rejections.size() == 1; }, 20s)) << rec->last_failure;
  EXPECT_EQ(rec->rejections.count(0), 1u) << rec->last_failure;
  // The next message must not expect the refused one as the stream's last (it never got it).
  publish_all(p, 1, 1);
  ASSERT_TRUE(run_until([&] { return rec->acks.size() == 1; }, 20s)) << rec->last_failure;
  EXPECT_EQ(rec->acks.count(1), 1u);
  EXPECT_TRUE(rec->failures.empty()) << rec->last_failure;
}

TEST_F(NatsPublisherTest, EveryMessageAcknowledgedAndStoredInOrder) {
  test::NatsCluster nats(1);
  ASSERT_TRUE(nats.add_stream("RELAY", "relay.test", 1));
  auto [p, rec] = open("nats@" + nats.servers() + "/relay.test?inflight=256&msg_id_prefix=unit");
  constexpr std::uint64_t kCount = 5000;
  publish_all(p, 0, kCount);
  ASSERT_TRUE(run_until([&] { return rec->reported() == kCount; }, 20s)) << rec->reported() << " reported";
  EXPECT_TRUE(rec->failures.empty()) << rec->last_failure;
  ASSERT_EQ(rec->acks.size(), kCount);
  for (const auto& [id, n] : rec->acks) EXPECT_EQ(n, 1) << "id " << id;
  EXPECT_EQ(shareds_[0]->counters.connects.get(), 1U);
  EXPECT_EQ(rec->states.back(), DestinationState::connected);

  const auto stored = nats.read_stream("RELAY", "relay.test", kCount);
  ASSERT_EQ(stored.size(), kCount);
  for (std::uint64_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(stored[i].msg_id, "unit-" + std::to_string(i));
    ASSERT_EQ(stored[i].data, "m" + std::to_string(i));
    ASSERT_EQ(stored[i].seq, i + 1);
  }
}

TEST_F(NatsPublisherTest, ResendOfStoredMessagesIsDroppedAsDuplicate) {
  test::NatsCluster nats(1);
  ASSERT_TRUE(nats.add_stream("RELAY", "relay.test", 1));
  auto [p, rec] = open("nats@" + nats.servers() + "/relay.test?msg_id_prefix=dup");
  publish_all(p, 0, 10);
  ASSERT_TRUE(run_until([&] { return rec->reported() == 10; }, 10s));
  // What a destination does after a failure: from the first unacknowledged message again.
  publish_all(p, 4, 6);
  publish_all(p, 10, 5);
  ASSERT_TRUE(run_until([&] { return rec->reported() == 21; }, 10s));
  EXPECT_TRUE(rec->failures.empty()) << rec->last_failure;
  EXPECT_EQ(nats.stream_messages("RELAY"), 15U);
  const auto stored = nats.read_stream("RELAY", "relay.test", 15);
  ASSERT_EQ(stored.size(), 15U);
  for (std::uint64_t i = 0; i < 15; ++i) EXPECT_EQ(id_suffix(stored[i].msg_id), std::to_string(i));
}

// Another writer gets in between: with ordered=1 the next message is refused (it would not follow
// its predecessor), with ordered=0 it is stored.
TEST_F(NatsPublisherTest, OrderedRefusesAMessageThatWouldNotFollowItsPredecessor) {
  test::NatsCluster nats(1);
  ASSERT_TRUE(nats.add_stream("RELAY", "relay.test", 1));
  auto [a, ra] = open("nats@" + nats.servers() + "/relay.test?msg_id_prefix=a");
  auto [b, rb] = open("nats@" + nats.servers() + "/relay.test?msg_id_prefix=b&ordered=0");
  publish_all(a, 0, 2);
  ASSERT_TRUE(run_until([&] { return ra->reported() == 2; }, 10s));
  publish_all(b, 0, 1);
  ASSERT_TRUE(run_until([&] { return rb->reported() == 1; }, 10s));
  EXPECT_EQ(rb->acks.count(0), 1U);
  publish_all(a, 2, 1);  // expects a-1 as the last message; the stream's last is b-0
  ASSERT_TRUE(run_until([&] { return ra->reported() == 3; }, 10s));
  EXPECT_EQ(ra->failures.count(2), 1U);
  EXPECT_NE(ra->last_failure.find("last msg ID"), std::string::npos) << ra->last_failure;
  publish_all(b, 1, 1);  // ordered=0: no expectation, stored
  ASSERT_TRUE(run_until([&] { return rb->reported() == 2; }, 10s));
  EXPECT_EQ(rb->acks.count(1), 1U) << rb->last_failure;
  EXPECT_EQ(nats.stream_messages("RELAY"), 4U);
}

TEST_F(NatsPublisherTest, EveryMessageFailsInBoundedTimeWithoutAServer) {
  const std::uint16_t port = test::reserve_port();  // nothing listens there
  auto [p, rec] = open("nats@127.0.0.1:" + std::to_string(port) + "/relay.test?timeout_ms=300");
  publish_all(p, 0, 20);
  ASSERT_TRUE(run_until([&] { return rec->reported() == 20; }, 10s)) << rec->reported() << " reported";
  EXPECT_EQ(rec->failures.size(), 20U) << rec->last_failure;
  for (const auto& [id, n] : rec->failures) EXPECT_EQ(n, 1) << "id " << id;
  EXPECT_TRUE(rec->acks.empty());
  EXPECT_GE(shareds_[0]->counters.connect_failures.get(), 1U);
  EXPECT_EQ(shareds_[0]->counters.connects.get(), 0U);
  EXPECT_NE(std::find(rec->states.begin(), rec->states.end(), DestinationState::backing_off), rec->states.end());
  EXPECT_FALSE(rec->last_error.empty());
}

// The server dies with messages in flight and comes back: what was not acknowledged fails (no
// answer within timeout_ms), the connection comes back by itself, and later messages are stored.
TEST_F(NatsPublisherTest, ServerRestartFailsInFlightThenReconnects) {
  test::NatsCluster nats(1);
  ASSERT_TRUE(nats.add_stream("RELAY", "relay.test", 1));
  auto [p, rec] = open("nats@" + nats.servers() + "/relay.test?timeout_ms=500&reconnect_wait_ms=50");
  publish_all(p, 0, 100);
  ASSERT_TRUE(run_until([&] { return rec->reported() == 100; }, 10s));
  nats.kill(0);
  ASSERT_TRUE(run_until([&] { return shareds_[0]->counters.disconnects.get() == 1; }, 10s));
  publish_all(p, 100, 10);
  ASSERT_TRUE(run_until([&] { return rec->reported() == 110; }, 10s)) << rec->reported() << " reported";
  for (std::uint64_t id = 100; id < 110; ++id) EXPECT_EQ(rec->failures.count(id), 1U) << id;
  nats.restart(0);
  ASSERT_TRUE(run_until([&] { return shareds_[0]->counters.reconnects.get() == 1; }, 20s)) << nats.logs();
  ASSERT_TRUE(nats.wait_stream_healthy("RELAY", 20s));
  publish_all(p, 100, 10);  // the destination's resend
  ASSERT_TRUE(run_until([&] { return rec->acks.size() == 110; }, 20s)) << rec->last_failure;
  EXPECT_EQ(nats.stream_messages("RELAY"), 110U);
}

TEST(NatsPublisherOptions, BadOptionsAreRefusedNamingTheOption) {
  const std::string base = "nats@127.0.0.1:4222/relay.test?";
  for (const std::string opt : {"inflight=0", "inflight=70000", "inflight=x", "timeout_ms=10", "timeout_ms=5s",
                                "ordered=2", "msg_id_prefix=a/b", "reconnect_wait_ms=0", "acks=all"}) {
    const Endpoint ep = parse_endpoint(base + opt);
    try {
      (void)make_publisher(ep);
      ADD_FAILURE() << opt << " was accepted";
    } catch (const EndpointError& e) {
      EXPECT_NE(std::string(e.what()).find(opt.substr(0, opt.find('='))), std::string::npos) << e.what();
    }
  }
  EXPECT_NE(make_publisher(parse_endpoint(
                base + "inflight=64&timeout_ms=1000&ordered=0&msg_id_prefix=relay-1.a_b&reconnect_wait_ms=100")),
            nullptr);
}

}  // namespace
}  // namespace relay
