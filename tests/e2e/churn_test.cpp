// Churn: many destinations added and removed while traffic flows. Every removed destination got
// an in-order, gap-free run starting exactly at its cursor; the permanent destination loses
// nothing; afterwards only the permanent destination is left and relayd shuts down cleanly.
//
// Two variants over the same scenario:
//   ChurnGrpcTest       the real relayd, driven through the generated gRPC stub (ctest
//                       churn_grpc_test, label e2e: Debian's gRPC is not TSan-instrumented);
//   ChurnInProcessTest  relay::Relay in this process through RelayApi, no gRPC (ctest
//                       churn_test, labels unit and tsan): the mailbox, the client thread and
//                       cursors joining and leaving while reclaim runs, under ThreadSanitizer.
//
// RELAY_CHURN_CYCLES overrides the number of cycles (default 200).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>

#include "command_line.hpp"
#include "load_generator.hpp"
#include "relay.hpp"
#include "relay/v1/relay.grpc.pb.h"
#include "relay_args.hpp"
#include "relay_stats.hpp"
#include "relayctl_runner.hpp"
#include "relayd_process.hpp"
#include "sequence_check.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"

namespace relay::test {
namespace {

namespace pb = relay::v1;

std::size_t cycles() {
  if (const char* env = std::getenv("RELAY_CHURN_CYCLES")) {
    const long v = std::strtol(env, nullptr, 10);
    if (v > 0) return static_cast<std::size_t>(v);
  }
  return 200;
}

// What the scenario needs from a control plane.
struct Added {
  std::uint64_t id = 0;
  std::uint64_t cursor = 0;
};
struct Removed {
  std::uint64_t id = 0;
  std::uint64_t cursor = 0;
  std::uint64_t sent = 0;
  std::uint64_t dropped_removed = 0;
  std::uint64_t dropped_lagging = 0;
  std::uint64_t lag_messages = 0;  // at removal: counted as dropped_removed (with a carried message)
};

class Control {
 public:
  virtual ~Control() = default;
  // Each records a test failure and returns nullopt when the call fails.
  virtual std::optional<Added> add(const std::string& address) = 0;
  virtual std::optional<Removed> remove(std::uint64_t id, bool drain) = 0;
  virtual std::vector<std::string> list() = 0;  // addresses, ordered by id
};

constexpr auto kDrainTimeout = std::chrono::seconds(5);
constexpr std::size_t kSize = 1000;
constexpr std::size_t kDataPerCycle = 20;  // messages a "with data" cycle waits for

// The scenario. `perm` is the permanent destination (already connected); load goes to udp_port.
// `queue_head` reads the queue's head (oldest readable message id): it must have moved by the end,
// i.e. segments were reclaimed during the churn.
void churn(Control& control, std::uint16_t udp_port, TcpSink& perm, const std::function<std::uint64_t()>& queue_head,
           std::size_t callers = 1) {
  const std::size_t n_cycles = cycles();
  // 1000-byte messages at 8000/s fill a 1 MiB segment every ~130 ms, so the background thread
  // reclaims segments while cursors join and leave.
  LoadGenerator load(
      {.port = udp_port, .rate = 8000, .size = kSize, .window = 256, .delivered = [&] { return perm.count(); }});
  load.start();
  ASSERT_TRUE(perm.wait_for_count(200, 10s)) << "traffic does not flow; " << load.stall_report();

  std::atomic<std::size_t> with_data{0}, total_removed_sent{0};
  // One add/remove cycle; i decides drain or not, and whether to wait for data first.
  const auto cycle = [&](std::size_t i) {
    SCOPED_TRACE("cycle " + std::to_string(i));
    TcpSink sink;
    const bool drain = i % 2 == 0;
    // Half the cycles remove once data flows to the new destination, half at once (often
    // before it has even connected).
    const bool wait_for_data = i % 4 < 2;
    const auto added = control.add(destination(sink.port()));
    ASSERT_TRUE(added);
    if (wait_for_data) {
      ASSERT_TRUE(sink.wait_for_count(kDataPerCycle, 10s)) << "the added destination received " << sink.count();
    }
    const auto removed = control.remove(added->id, drain);
    ASSERT_TRUE(removed);
    ASSERT_EQ(removed->id, added->id);
    EXPECT_EQ(removed->dropped_lagging, 0u);
    // Every message relayd fully wrote reaches the sink; nothing else does.
    EXPECT_EQ(removed->cursor, added->cursor + removed->sent) << "cursor moved by other than what was sent";
    // Every message offered (from its start to the tail at removal) is sent or counted.
    EXPECT_EQ(removed->sent + removed->dropped_lagging + removed->dropped_removed,
              removed->cursor - added->cursor + removed->lag_messages);
    ASSERT_TRUE(wait_until([&] { return sink.count() >= removed->sent; }, 10s))
        << "the sink got " << sink.count() << " of " << removed->sent << " written messages";
    const auto got = sink.messages();
    EXPECT_EQ(got.size(), removed->sent);
    EXPECT_EQ(sink.framing_errors(), 0u) << "a frame was cut at removal (drain=" << drain << ")";
    EXPECT_LE(sink.connections(), 1u);
    if (!got.empty()) {
      const auto report = check_sequence(got);
      EXPECT_EQ(report.first, added->cursor);
      EXPECT_TRUE(report.contiguous()) << "missing " << report.missing << ", out of order " << report.out_of_order;
      ++with_data;
    }
    total_removed_sent += removed->sent;
  };
  // `callers` threads share the cycles, so control calls also race each other (the mailbox
  // has several producers).
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < callers; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = t; i < n_cycles; i += callers) {
        cycle(i);
        if (::testing::Test::HasFailure()) break;  // one broken cycle explains itself; 200 copies do not
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_FALSE(::testing::Test::HasFailure());
  ::testing::Test::RecordProperty("cycles", static_cast<int>(n_cycles));
  ::testing::Test::RecordProperty("cycles_with_data", static_cast<int>(with_data.load()));
  ::testing::Test::RecordProperty("removed_sent_total", static_cast<int>(total_removed_sent.load()));
  EXPECT_GE(with_data.load(), n_cycles / 2) << "too few cycles delivered anything to their destination";

  const auto left = control.list();
  ASSERT_EQ(left.size(), 1u) << ::testing::PrintToString(left);
  EXPECT_EQ(left[0], destination(perm.port()));

  // Reclaim ran: the head moved past freed segments (bounded; the load is still flowing).
  EXPECT_TRUE(wait_until([&] { return queue_head() > 0; }, 20s)) << "no segment was ever reclaimed";
  const std::uint64_t total = load.stop();
  EXPECT_FALSE(load.stalled()) << load.stall_report();
  ASSERT_TRUE(perm.wait_for_count(total, 20s)) << "permanent destination: " << perm.count() << " of " << total;
  EXPECT_TRUE(is_whole_stream(perm.messages(), total)) << "permanent destination";
  EXPECT_EQ(perm.framing_errors(), 0u);
  EXPECT_EQ(perm.connections(), 1u);
  ::testing::Test::RecordProperty("messages", static_cast<int>(total));
}

// ---------------------------------------------------------------- through gRPC, real relayd

class GrpcControl : public Control {
 public:
  explicit GrpcControl(const std::string& target)
      : stub_(pb::RelayControl::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))) {}

  std::optional<Added> add(const std::string& address) override {
    pb::AddDestinationRequest req;
    req.set_address(address);
    pb::Destination d;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + scaled(10s));
    const auto st = stub_->AddDestination(&ctx, req, &d);
    if (!st.ok()) {
      ADD_FAILURE() << "AddDestination " << address << ": " << st.error_code() << " " << st.error_message();
      return std::nullopt;
    }
    return Added{d.id(), d.cursor()};
  }

  std::optional<Removed> remove(std::uint64_t id, bool drain) override {
    pb::RemoveDestinationRequest req;
    req.set_id(id);
    req.set_drain(drain);
    if (drain) req.mutable_drain_timeout()->set_seconds(kDrainTimeout.count());
    pb::Destination d;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + scaled(10s) + kDrainTimeout);
    const auto st = stub_->RemoveDestination(&ctx, req, &d);
    if (!st.ok()) {
      ADD_FAILURE() << "RemoveDestination " << id << ": " << st.error_code() << " " << st.error_message();
      return std::nullopt;
    }
    return Removed{d.id(),
                   d.cursor(),
                   d.counters().sent_messages(),
                   d.counters().dropped_removed(),
                   d.counters().dropped_lagging(),
                   d.lag_messages()};
  }

  std::vector<std::string> list() override {
    pb::ListDestinationsResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + scaled(10s));
    const auto st = stub_->ListDestinations(&ctx, {}, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::vector<std::string> out;
    for (const auto& d : resp.destinations()) out.push_back(d.address());
    return out;
  }

  std::uint64_t queue_head() {
    pb::Stats stats;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + scaled(10s));
    const auto st = stub_->GetStats(&ctx, {}, &stats);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return stats.queue().head();
  }

 private:
  std::unique_ptr<pb::RelayControl::Stub> stub_;
};

TEST(ChurnGrpcTest, AddRemoveCyclesUnderLoadThroughGrpc) {
  TcpSink perm;
  RelaydProcess relayd({"--control", "127.0.0.1:0", "--stats-interval", "0", "--reconnect-min", "0.05",
                        "--reconnect-max", "0.2", "--log-level", "info", "udp@127.0.0.1:0", destination(perm.port())});
  ASSERT_TRUE(relayd.wait_ready());
  const std::uint16_t port = control_port(relayd);
  ASSERT_NE(port, 0);
  ASSERT_TRUE(perm.wait_for_connections(1, 10s));
  {
    GrpcControl control("127.0.0.1:" + std::to_string(port));
    churn(control, relayd.udp_port(), perm, [&] { return control.queue_head(); });
  }
  ASSERT_TRUE(relayd.running()) << "relayd died during the churn";
  relayd.signal(SIGTERM);
  EXPECT_EQ(relayd.wait_exit(30s), 0);  // under ASan: also no leak at exit
  const auto stats = relayd.stats();
  const auto listener = stats.listener(relayd.udp_port());
  ASSERT_TRUE(listener) << "no exit stats";
  EXPECT_EQ(listener->u("received_messages"), perm.count());
  EXPECT_EQ(listener->u("kernel_drops"), 0u);
  // The exit report lists the permanent destination only.
  ASSERT_EQ(stats.destinations().size(), 1u);
  const auto d = stats.destination(perm.port());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->u("sent_messages"), perm.count());
}

// ---------------------------------------------------------------- in process, RelayApi

class InProcessControl : public Control {
 public:
  explicit InProcessControl(Relay& relay) : relay_(relay) {}

  static Deadline deadline(std::chrono::milliseconds extra = {}) {
    return std::chrono::steady_clock::now() + scaled(10s) + extra;
  }

  std::optional<Added> add(const std::string& address) override {
    try {
      const auto d = relay_.add_destination(AddDestinationRequest{address, std::nullopt, StartAt::tail}, deadline());
      return Added{d.id, d.cursor};
    } catch (const std::exception& e) {
      ADD_FAILURE() << "add_destination " << address << ": " << e.what();
      return std::nullopt;
    }
  }

  std::optional<Removed> remove(std::uint64_t id, bool drain) override {
    RemoveDestinationRequest req;
    req.id = id;
    req.drain = drain;
    req.drain_timeout = kDrainTimeout;
    try {
      const auto d = relay_.remove_destination(req, deadline(kDrainTimeout));
      return Removed{
          d.id,          d.cursor, d.counters.sent_messages, d.counters.dropped_removed, d.counters.dropped_lagging,
          d.lag_messages};
    } catch (const std::exception& e) {
      ADD_FAILURE() << "remove_destination " << id << ": " << e.what();
      return std::nullopt;
    }
  }

  std::vector<std::string> list() override {
    std::vector<std::string> out;
    for (const auto& d : relay_.destinations()) out.push_back(d.address);
    return out;
  }

 private:
  Relay& relay_;
};

void run_in_process(std::size_t callers) {
  spdlog::set_level(spdlog::level::warn);  // 200 cycles of "added"/"connected" lines say nothing
  TcpSink perm;
  const std::string perm_address = destination(perm.port());
  const std::vector<const char*> argv{"relayd",
                                      "udp@127.0.0.1:0",
                                      perm_address.c_str(),
                                      "--control",
                                      "none",
                                      "--stats-interval",
                                      "0",
                                      "--reconnect-min",
                                      "0.05",
                                      "--reconnect-max",
                                      "0.2",
                                      "--drain-timeout",
                                      "10"};
  Config cfg;
  try {
    cfg = parse_command_line(static_cast<int>(argv.size()), argv.data());
  } catch (const CommandLineExit& e) {
    FAIL() << "parse_command_line exited with " << e.code;
  }
  Relay relay(cfg);
  relay.start();
  const auto info = relay.info();
  ASSERT_EQ(info.listeners.size(), 1u);
  const std::uint16_t udp_port = address_port(info.listeners[0].address);
  ASSERT_NE(udp_port, 0) << info.listeners[0].address;
  ASSERT_TRUE(perm.wait_for_connections(1, 10s));

  InProcessControl control(relay);
  churn(
      control, udp_port, perm, [&] { return relay.stats().queue.head; }, callers);

  // sent counts what the sink's TCP acknowledged: that may come a moment after the sink read it.
  EXPECT_TRUE(wait_until(
      [&] {
        const auto s = relay.stats();
        return s.destinations.size() == 1 && s.destinations[0].lag_messages == 0;
      },
      10s));
  const auto stats = relay.stats();
  EXPECT_EQ(stats.received.received_messages, perm.count());
  EXPECT_EQ(stats.received.kernel_drops, 0u);
  ASSERT_EQ(stats.destinations.size(), 1u);
  EXPECT_EQ(stats.destinations[0].counters.sent_messages, perm.count());
  EXPECT_EQ(stats.destinations[0].lag_messages, 0u);
  relay.shutdown();
}

TEST(ChurnInProcessTest, AddRemoveCyclesUnderLoadThroughRelayApi) { run_in_process(1); }

// The same cycles from two threads at once: concurrent control calls, drains overlapping
// immediate removals.
TEST(ChurnInProcessTest, ConcurrentCallers) { run_in_process(2); }

}  // namespace
}  // namespace relay::test
