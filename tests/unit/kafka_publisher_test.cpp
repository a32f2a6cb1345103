// KafkaPublisher (kafka@ destinations) driven as the client thread drives it — a real libev loop,
// poll() only when the publisher's wake-up fires (no tick, so a lost wake-up shows as a timeout) —
// against librdkafka's mock cluster in this process (or the real brokers of
// RELAY_TEST_KAFKA_BROKERS). What a broker stored is read back with a real consumer.
#include "kafka_publisher.hpp"

#include <ev.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "destination_shared.hpp"
#include "endpoint.hpp"
#include "kafka_cluster.hpp"
#include "kafka_reaper.hpp"
#include "timeouts.hpp"

namespace relay {
namespace {

using namespace std::chrono_literals;

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

// What the publisher reported, in order. Everything but wake() runs on the test's thread, which
// plays the client thread (it runs the loop).
class Recorder final : public PublishEvents {
 public:
  explicit Recorder(struct ev_loop* loop) : loop_(loop) {
    ev_async_init(&async_, &Recorder::on_async);
    async_.data = this;
    ev_async_start(loop_, &async_);
  }
  ~Recorder() { ev_async_stop(loop_, &async_); }
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  void attach(Publisher* p) { publisher_ = p; }

  void acknowledged(std::uint64_t id) override { acked.push_back(id); }
  void failed(std::uint64_t id, std::string_view why) override { failures.emplace_back(id, std::string(why)); }
  void rejected(std::uint64_t id, std::string_view why) override { rejections.emplace_back(id, std::string(why)); }
  void connection(DestinationState s, std::string_view error) override { states.emplace_back(s, std::string(error)); }
  void wake() noexcept override {
    // relaxed: a statistic for the test's messages; ev_async_send does the signalling.
    wakes.fetch_add(1, std::memory_order_relaxed);
    ev_async_send(loop_, &async_);
  }

  bool saw(DestinationState s) const {
    return std::ranges::any_of(states, [&](const auto& st) { return st.first == s; });
  }

  std::vector<std::uint64_t> acked;
  std::vector<std::pair<std::uint64_t, std::string>> failures;
  std::vector<std::pair<std::uint64_t, std::string>> rejections;
  std::vector<std::pair<DestinationState, std::string>> states;
  std::atomic<std::uint64_t> wakes{0};

 private:
  static void on_async(struct ev_loop*, ev_async* w, int) {
    auto* self = static_cast<Recorder*>(w->data);
    if (self->publisher_ != nullptr) self->publisher_->poll();
  }

  struct ev_loop* loop_;
  ev_async async_{};
  Publisher* publisher_ = nullptr;
};

// Runs the loop until `done` or `timeout` (scaled). `done` is called once after it returned true
// (it may have effects: a publish).
template <typename Pred>
bool run_until(struct ev_loop* loop, Pred done, std::chrono::milliseconds timeout) {
  bool expired = false;
  ev_timer deadline{};
  ev_timer_init(
      &deadline, [](struct ev_loop*, ev_timer* w, int) { *static_cast<bool*>(w->data) = true; },
      std::chrono::duration<double>(test::scaled(timeout)).count(), 0.);
  deadline.data = &expired;
  ev_now_update(loop);
  ev_timer_start(loop, &deadline);
  bool ok = done();
  while (!ok && !expired) {
    ev_run(loop, EVRUN_ONCE);
    ok = done();
  }
  ev_timer_stop(loop, &deadline);
  return ok;
}

class KafkaPublisherTest : public ::testing::Test {
 protected:
  ~KafkaPublisherTest() override {
    publisher.reset();
    wait_kafka_handles_reaped();
    events.reset();
    ev_loop_destroy(loop);
  }

  void make(const std::string& topic, const std::string& options) {
    const Endpoint ep = parse_endpoint("kafka@" + cluster.bootstrap() + "/" + topic + options);
    shared = std::make_shared<DestinationShared>(1, ep);
    publisher = make_kafka_publisher(ep);
    events->attach(publisher.get());
    publisher->start(loop, *events, *shared);
  }

  // Hands every payload over in order, running the loop whenever the publisher is full.
  void publish_all(const std::vector<std::string>& payloads, std::uint64_t first_id = 0) {
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      const std::uint64_t id = first_id + i;
      ASSERT_TRUE(run_until(
          loop, [&] { return publisher->publish(id, bytes(payloads[i])); }, 10s))
          << "message " << id << " was never taken";
    }
  }

  test::KafkaCluster cluster{3};
  struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO);
  std::unique_ptr<Recorder> events = std::make_unique<Recorder>(loop);
  std::shared_ptr<DestinationShared> shared;
  std::unique_ptr<Publisher> publisher;
};

// Graphite-like lines, `keys` metric names round robin, the sequence number as the value.
std::vector<std::string> graphite_lines(std::size_t n, std::size_t keys, std::size_t first = 0) {
  std::vector<std::string> out;
  for (std::size_t i = first; i < first + n; ++i)
    out.push_back("relay.test.m" + std::to_string(i % keys) + " " + std::to_string(i) + " 1700000000");
  return out;
}

// Every id exactly once, in any order.
void expect_each_once(std::vector<std::uint64_t> ids, std::uint64_t n) {
  std::ranges::sort(ids);
  ASSERT_EQ(ids.size(), n);
  for (std::uint64_t i = 0; i < n; ++i) ASSERT_EQ(ids[i], i) << "id " << i << " missing or repeated";
}

// The topic holds exactly `lines`, each keyed by its metric name, in sequence order per key.
void expect_topic_holds(const std::string& bootstrap, const std::string& topic, const std::vector<std::string>& lines) {
  const auto records = test::read_topic(bootstrap, topic, lines.size(), 30s);
  ASSERT_EQ(records.size(), lines.size()) << "records lost or duplicated";
  std::multiset<std::string> want(lines.begin(), lines.end());
  std::map<std::string, std::uint64_t> last_seq;
  std::map<std::string, std::int32_t> partition_of;
  for (const auto& r : records) {
    ASSERT_EQ(want.count(r.value), 1u) << "unexpected or repeated record " << r.value;
    want.erase(r.value);
    const std::string metric = r.value.substr(0, r.value.find(' '));
    ASSERT_TRUE(r.has_key);
    EXPECT_EQ(r.key, metric);
    const auto [at, fresh] = partition_of.emplace(metric, r.partition);
    EXPECT_EQ(at->second, r.partition) << "key " << metric << " in two partitions";
    const std::uint64_t seq = std::stoull(r.value.substr(metric.size() + 1));
    if (!fresh) {
      EXPECT_GT(seq, last_seq[metric]) << "key " << metric << " out of order";
    }
    last_seq[metric] = seq;
  }
}

TEST_F(KafkaPublisherTest, AcknowledgesEveryMessageOnceKeyedByFieldInOrderPerKey) {
  const std::string topic = cluster.create_topic("relay-pub", 4, cluster.real() ? 0 : 3);
  make(topic, "?key=field&linger_ms=2");
  const auto lines = graphite_lines(20'000, 50);
  publish_all(lines);
  ASSERT_TRUE(run_until(
      loop, [&] { return events->acked.size() == lines.size(); }, 20s))
      << events->acked.size() << " of " << lines.size() << " acknowledged";
  EXPECT_TRUE(events->failures.empty()) << events->failures.front().second;
  expect_each_once(events->acked, lines.size());
  ASSERT_FALSE(events->states.empty());
  EXPECT_EQ(events->states.back().first, DestinationState::connected);
  EXPECT_EQ(shared->counters.connects.get(), 1u);
  EXPECT_GT(events->wakes.load(std::memory_order_relaxed), 0u);  // relaxed: see Recorder::wake
  expect_topic_holds(cluster.bootstrap(), topic, lines);
}

// A message larger than the producer may send is refused for good: taken, reported rejected (at
// the next poll, not from inside publish), and the messages around it are stored as usual.
TEST_F(KafkaPublisherTest, AMessageTooLargeIsRejectedNotHeldOrResent) {
  const std::string topic = cluster.create_topic("relay-large", 1, cluster.real() ? 0 : 3);
  make(topic, "?key=field&rdkafka.message.max.bytes=2000");
  const auto lines = graphite_lines(2, 2);
  ASSERT_TRUE(publisher->publish(0, bytes(lines[0])));
  const std::string huge = "relay.test.huge " + std::string(4000, 'x');
  ASSERT_TRUE(publisher->publish(1, bytes(huge))) << "a message refused for good must be taken, not held";
  EXPECT_TRUE(events->rejections.empty()) << "reported from inside publish()";
  ASSERT_TRUE(publisher->publish(2, bytes(lines[1])));
  ASSERT_TRUE(run_until(
      loop, [&] { return events->acked.size() == 2 && events->rejections.size() == 1; }, 10s));
  EXPECT_EQ(events->rejections[0].first, 1u);
  EXPECT_NE(events->rejections[0].second.find("too large"), std::string::npos) << events->rejections[0].second;
  EXPECT_TRUE(events->failures.empty());
  expect_topic_holds(cluster.bootstrap(), topic, lines);
}

TEST_F(KafkaPublisherTest, QueueFullTakesNothingUntilReportsAreServed) {
  const std::string topic = cluster.create_topic("relay-full", 1, cluster.real() ? 0 : 3);
  make(topic, "?inflight=10&key=field");
  EXPECT_EQ(publisher->max_in_flight(), 10u);
  const auto lines = graphite_lines(11, 3);
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(publisher->publish(i, bytes(lines[i])));
  // Nothing is served until poll() runs, so librdkafka still counts all ten as its own.
  EXPECT_FALSE(publisher->publish(10, bytes(lines[10])));
  ASSERT_TRUE(run_until(
      loop, [&] { return events->acked.size() == 10; }, 10s));
  ASSERT_TRUE(publisher->publish(10, bytes(lines[10])));
  ASSERT_TRUE(run_until(
      loop, [&] { return events->acked.size() == 11; }, 10s));
  expect_each_once(events->acked, 11);
  expect_topic_holds(cluster.bootstrap(), topic, lines);
}

TEST_F(KafkaPublisherTest, PayloadAndByteRangeKeys) {
  const std::string topic = cluster.create_topic("relay-keys", 3, cluster.real() ? 0 : 3);
  make(topic, "?key=payload");
  const std::vector<std::string> lines{"same payload", "other payload", "same payload"};
  publish_all(lines);
  ASSERT_TRUE(run_until(
      loop, [&] { return events->acked.size() == lines.size(); }, 10s));
  const auto records = test::read_topic(cluster.bootstrap(), topic, lines.size(), 30s);
  ASSERT_EQ(records.size(), 3u);
  std::map<std::string, std::set<std::string>> keys_of;
  for (const auto& r : records) {
    ASSERT_TRUE(r.has_key);
    EXPECT_EQ(r.key.size(), 8u);  // the payload's XXH3 hash
    keys_of[r.value].insert(r.key);
  }
  EXPECT_EQ(keys_of["same payload"].size(), 1u);
  EXPECT_NE(*keys_of["same payload"].begin(), *keys_of["other payload"].begin());

  publisher.reset();
  const std::string topic2 = cluster.create_topic("relay-bytes", 1, cluster.real() ? 0 : 3);
  events->acked.clear();
  make(topic2, "?key=bytes:2-3");
  publish_all({"abcdef", "ab"});
  ASSERT_TRUE(run_until(
      loop, [&] { return events->acked.size() == 2; }, 10s));
  const auto ranged = test::read_topic(cluster.bootstrap(), topic2, 2, 30s);
  ASSERT_EQ(ranged.size(), 2u);
  EXPECT_EQ(ranged[0].key, "cde");
  EXPECT_FALSE(ranged[1].has_key);  // clipped to the payload: empty, which librdkafka sends as no key
}

TEST_F(KafkaPublisherTest, BrokersDownThenUpLosesNothing) {
  if (cluster.real()) GTEST_SKIP() << "brokers cannot be stopped from the test on a real cluster";
  const std::string topic = cluster.create_topic("relay-down", 4, 3);
  make(topic, "?key=field");
  const auto before = graphite_lines(500, 20);
  publish_all(before);
  ASSERT_TRUE(run_until(
      loop, [&] { return events->acked.size() == before.size(); }, 10s));
  ASSERT_TRUE(cluster.down(-1));
  ASSERT_TRUE(run_until(
      loop, [&] { return events->saw(DestinationState::backing_off); }, 15s))
      << "no broker-down report";
  EXPECT_EQ(shared->counters.disconnects.get(), 1u);
  const auto during = graphite_lines(500, 20, 500);
  publish_all(during, 500);  // taken and held by librdkafka while no broker answers
  EXPECT_EQ(events->acked.size(), before.size());
  ASSERT_TRUE(cluster.up(-1));
  ASSERT_TRUE(run_until(
      loop, [&] { return events->acked.size() == 1000; }, 30s))
      << events->acked.size() << " of 1000 acknowledged";
  EXPECT_TRUE(events->failures.empty());
  expect_each_once(events->acked, 1000);
  EXPECT_EQ(events->states.back().first, DestinationState::connected);
  EXPECT_EQ(shared->counters.connects.get(), 2u);
  EXPECT_EQ(shared->counters.reconnects.get(), 1u);
  auto all = before;
  all.insert(all.end(), during.begin(), during.end());
  expect_topic_holds(cluster.bootstrap(), topic, all);
}

TEST_F(KafkaPublisherTest, MessagesNoBrokerTakesAreReportedFailedAfterTimeout) {
  if (cluster.real()) GTEST_SKIP() << "brokers cannot be stopped from the test on a real cluster";
  const std::string topic = cluster.create_topic("relay-timeout", 1, 3);
  ASSERT_TRUE(cluster.down(-1));
  make(topic, "?timeout_ms=300");
  publish_all(graphite_lines(5, 1));
  ASSERT_TRUE(run_until(
      loop, [&] { return events->failures.size() == 5; }, 15s));
  EXPECT_TRUE(events->acked.empty());
  std::vector<std::uint64_t> ids;
  for (const auto& [id, why] : events->failures) {
    ids.push_back(id);
    EXPECT_NE(why.find("timed out"), std::string::npos) << why;
  }
  expect_each_once(ids, 5);
  EXPECT_GT(shared->counters.connect_failures.get(), 0u);
}

TEST_F(KafkaPublisherTest, DestroyingWithMessagesHeldDoesNotBlock) {
  if (cluster.real()) GTEST_SKIP() << "brokers cannot be stopped from the test on a real cluster";
  const std::string topic = cluster.create_topic("relay-destroy", 1, 3);
  ASSERT_TRUE(cluster.down(-1));
  make(topic, "");
  publish_all(graphite_lines(100, 1));
  const auto t0 = test::Clock::now();
  publisher.reset();
  EXPECT_LT(test::Clock::now() - t0, test::scaled(100ms)) << "the destructor waited for librdkafka";
  auto reaped = std::async(std::launch::async, [] { wait_kafka_handles_reaped(); });
  EXPECT_EQ(reaped.wait_for(test::scaled(10s)), std::future_status::ready) << "the handle was never destroyed";
}

// A fatal idempotent-producer error (the cluster refuses the producer an id: authorization):
// every message the producer held is reported failed, a new producer takes over, and what is
// handed over again is acknowledged.
TEST_F(KafkaPublisherTest, FatalProducerErrorReplacesTheProducer) {
  if (cluster.real()) GTEST_SKIP() << "errors cannot be injected into a real cluster";
  const std::string topic = cluster.create_topic("relay-fatal", 1, 3);
  constexpr std::int16_t kInitProducerId = 22;  // the Kafka protocol's ApiKey
  rd_kafka_mock_push_request_errors(cluster.mock(), kInitProducerId, 1, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
  make(topic, "?key=field");
  const auto lines = graphite_lines(100, 5);
  publish_all(lines);
  ASSERT_TRUE(run_until(
      loop, [&] { return events->acked.size() + events->failures.size() == 100; }, 15s));
  ASSERT_FALSE(events->failures.empty()) << "the injected error did not fail anything";
  EXPECT_TRUE(events->saw(DestinationState::backing_off));
  // As PublishDestination does after a failure: the failed ones again, in order, once taken.
  auto again = events->failures;
  std::ranges::sort(again);
  for (const auto& [id, why] : again)
    ASSERT_TRUE(run_until(
        loop, [&, id = id] { return publisher->publish(id, bytes(lines[id])); }, 10s))
        << "the new producer never took message " << id;
  ASSERT_TRUE(run_until(
      loop, [&] { return events->acked.size() == 100; }, 15s))
      << events->acked.size() << " acknowledged, " << events->failures.size() << " failed";
  expect_each_once(events->acked, 100);
  EXPECT_EQ(events->states.back().first, DestinationState::connected);
  expect_topic_holds(cluster.bootstrap(), topic, lines);
}

TEST(KafkaPublisherOptions, BadOptionsAreRefusedNamingTheOption) {
  const std::string base = "kafka@127.0.0.1:9/t?";
  const std::vector<std::pair<std::string, std::string>> bad{
      {"key=color", "key=color"},
      {"key=bytes:3", "key=bytes:3"},
      {"key=bytes:1-0", "key=bytes:1-0"},
      {"compression=brotli", "compression=brotli"},
      {"linger_ms=-1", "linger_ms=-1"},
      {"linger_ms=900001", "linger_ms=900001"},
      {"batch_size=0", "batch_size=0"},
      {"batch_messages=x", "batch_messages=x"},
      {"timeout_ms=0", "timeout_ms=0"},
      {"inflight=0", "inflight=0"},
      {"colour=red", "colour=red"},
      {"rdkafka.acks=1", "rdkafka.acks=1"},
      {"rdkafka.enable.idempotence=false", "rdkafka.enable.idempotence=false"},
      {"rdkafka.linger.ms=5", "use linger_ms="},
      {"rdkafka.no.such.property=1", "rdkafka.no.such.property=1"},
      {"rdkafka.socket.timeout.ms=nope", "rdkafka.socket.timeout.ms=nope"},
  };
  for (const auto& [options, named] : bad) {
    try {
      make_kafka_publisher(parse_endpoint(base + options));
      ADD_FAILURE() << options << " was accepted";
    } catch (const EndpointError& e) {
      EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
  // Everything at once, valid: built (nothing is sent: it is never started).
  EXPECT_NE(make_kafka_publisher(parse_endpoint(base + "key=bytes:0-4&compression=zstd&linger_ms=5&batch_size=100000&"
                                                       "batch_messages=1000&timeout_ms=5000&inflight=1000&"
                                                       "rdkafka.client.id=relay-test&rdkafka.socket.timeout.ms=1000")),
            nullptr);
  for (const char* codec : {"none", "gzip", "snappy", "lz4", "zstd"})
    EXPECT_NE(make_kafka_publisher(parse_endpoint(base + "compression=" + codec)), nullptr) << codec;
  wait_kafka_handles_reaped();
}

}  // namespace
}  // namespace relay
