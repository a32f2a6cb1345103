// Control plane end to end: the real relayctl binary against the real relayd over real gRPC on
// loopback, with real UDP load and real TCP sinks. Destinations added and removed while traffic
// flows start and stop exactly where the API says; the permanent destination never misses a
// message; relayctl's counters agree with what the sinks counted; every error path has its
// exit code and message, and leaves the daemon unchanged.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <future>
#include <memory>
#include <optional>
#include <regex>
#include <set>

#include "accounting.hpp"
#include "load_generator.hpp"
#include "payload.hpp"
#include "relay/v1/relay.pb.h"
#include "relay_args.hpp"
#include "relayctl_runner.hpp"
#include "relayd_process.hpp"
#include "sequence_check.hpp"
#include "snapshot_accounting.hpp"
#include "sockets.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

namespace pb = relay::v1;

constexpr std::size_t kSize = 100;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// One relayd with gRPC control on a kernel-chosen loopback port, and a relayctl pointed at it.
class ControlE2eTest : public ::testing::Test {
 protected:
  // relayd [extra...] udp@127.0.0.1:0 DESTS... with --control 127.0.0.1:0.
  void start(const std::vector<std::string>& dests, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"--control",       "127.0.0.1:0", "--stats-interval", "0",
                                  "--reconnect-min", "0.05",        "--reconnect-max",  "0.2",
                                  "--log-level",     "info"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("udp@127.0.0.1:0");
    args.insert(args.end(), dests.begin(), dests.end());
    relayd_ = std::make_unique<RelaydProcess>(args);
    ASSERT_TRUE(relayd_->wait_ready());
    udp_port_ = relayd_->udp_port();
    ASSERT_NE(udp_port_, 0) << "no 'listening on' line with a port";
    const std::uint16_t port = control_port(*relayd_);
    ASSERT_NE(port, 0) << "no 'control: listening on ... (port N)' line";
    ctl_ = std::make_unique<RelayctlRunner>(RELAYCTL_PATH, "127.0.0.1:" + std::to_string(port));
  }

  // Runs relayctl and parses its stdout (one JSON object) into a Msg; records a failure unless
  // it exited 0 with parsable output.
  template <typename Msg>
  Msg json(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 20s) {
    std::vector<std::string> full{"--json"};
    full.insert(full.end(), args.begin(), args.end());
    const RunResult r = ctl_->run(full, timeout);
    Msg msg;
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << "\n" << describe(r);
    if (r.exit_code == 0) {
      const auto st = google::protobuf::util::JsonStringToMessage(r.out, &msg);
      EXPECT_TRUE(st.ok()) << "unparsable JSON from relayctl: " << r.out;
    }
    return msg;
  }

  RunResult ctl(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 20s) {
    return ctl_->run(args, timeout);
  }

  // Stops relayd with SIGTERM; it must exit 0.
  void stop_relayd() {
    relayd_->signal(SIGTERM);
    EXPECT_EQ(relayd_->wait_exit(30s), 0);
  }

  // Stops relayd; its exit report must add up for `sent` datagrams to the UDP listener and
  // destinations that joined at `joined_at` (accounting.hpp).
  void stop_relayd_and_check(std::uint64_t sent, const PortCounts& joined_at = {}) {
    stop_relayd();
    expect_exit_report_adds_up(relayd_->stats(), {{udp_port_, sent}}, joined_at);
  }

  // A live snapshot, taken at quiescence, must add up too.
  void expect_stats_add_up(std::uint64_t sent, const PortCounts& joined_at = {}) {
    expect_snapshot_adds_up(json<pb::Stats>({"stats"}), {{udp_port_, sent}}, joined_at);
  }

  std::unique_ptr<RelaydProcess> relayd_;
  std::unique_ptr<RelayctlRunner> ctl_;
  std::uint16_t udp_port_ = 0;
};

// --- a. add and remove while traffic flows; stats agree with the sinks ----------------------

TEST_F(ControlE2eTest, AddAndRemoveWhileTrafficFlowsAndStatsAgreeWithTheSinks) {
  TcpSink first;   // on the command line: must get every message
  TcpSink second;  // added and removed through relayctl
  ASSERT_NO_FATAL_FAILURE(start({destination(first.port())}));
  ASSERT_TRUE(first.wait_for_connections(1, 10s)) << "relayd never connected to the first destination";

  LoadGenerator load(
      {.port = udp_port_, .rate = 3000, .size = kSize, .window = 256, .delivered = [&] { return first.count(); }});
  load.start();
  ASSERT_TRUE(first.wait_for_count(500, 10s))
      << "traffic does not flow: " << first.count() << "; " << load.stall_report();

  // Add: returns CONNECTING with its cursor at the tail, which lies between what the first
  // destination had already received and what has been sent.
  const std::size_t first_before_add = first.count();
  const auto added = json<pb::Destination>({"dest", "add", "tcp@127.0.0.1:" + std::to_string(second.port())});
  ASSERT_FALSE(HasFailure());
  const std::uint64_t sent_after_add = load.sent();
  EXPECT_EQ(added.address(), destination(second.port()));
  EXPECT_EQ(added.framing(), pb::FRAMING_LP32LE);
  EXPECT_EQ(added.state(), pb::DESTINATION_STATE_CONNECTING);
  EXPECT_EQ(added.counters().sent_messages(), 0u);
  EXPECT_GE(added.cursor(), first_before_add);
  EXPECT_LE(added.cursor(), sent_after_add);
  const std::string id = std::to_string(added.id());

  // It starts receiving, from exactly its cursor on, contiguous.
  ASSERT_TRUE(second.wait_for_count(1000, 15s)) << "the added destination received " << second.count();
  {
    const auto got = second.messages();
    const auto report = check_sequence(got);
    EXPECT_EQ(report.first, added.cursor()) << "first message of the added destination";
    EXPECT_TRUE(report.contiguous()) << "missing " << report.missing << ", out of order " << report.out_of_order;
  }
  // sent counts what the sink's TCP acknowledged: that may come a moment after the sink read it.
  pb::Destination got_second;
  EXPECT_TRUE(wait_until(
      [&] {
        got_second = json<pb::Destination>({"dest", "get", id});
        return got_second.counters().sent_messages() >= 1000u;
      },
      10s));
  EXPECT_EQ(got_second.state(), pb::DESTINATION_STATE_CONNECTED);
  EXPECT_GE(got_second.counters().sent_messages(), 1000u);
  EXPECT_EQ(got_second.counters().connects(), 1u);

  // Remove (no drain): once rm returns, what the sink gets is exactly what relayd had written.
  const auto removed = json<pb::Destination>({"dest", "rm", id});
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(removed.id(), added.id());
  const std::uint64_t written = removed.counters().sent_messages();
  EXPECT_GE(written, 1000u);
  ASSERT_TRUE(second.wait_for_count(written, 10s))
      << "the removed destination got " << second.count() << " of the " << written << " messages relayd wrote to it";
  // Bounded wait for anything late: the first destination takes another 1500 messages (half a
  // second of load) while the removed one must not take a single one.
  const std::size_t first_at_rm = first.count();
  ASSERT_TRUE(first.wait_for_count(first_at_rm + 1500, 15s)) << load.stall_report();
  EXPECT_EQ(second.count(), written) << "messages arrived after dest rm returned";
  EXPECT_EQ(second.framing_errors(), 0u);
  EXPECT_EQ(second.connections(), 1u);
  {
    const auto got = second.messages();
    const auto report = check_sequence(got);
    EXPECT_EQ(report.first, added.cursor());
    EXPECT_EQ(report.last, added.cursor() + written - 1);
    EXPECT_TRUE(report.contiguous()) << "missing " << report.missing << ", out of order " << report.out_of_order;
  }
  const auto after_rm = json<pb::ListDestinationsResponse>({"dest", "ls"});
  ASSERT_EQ(after_rm.destinations_size(), 1) << after_rm.DebugString();
  EXPECT_EQ(after_rm.destinations(0).address(), destination(first.port()));
  const auto gone = ctl({"dest", "get", id});
  EXPECT_EQ(gone.exit_code, 1) << describe(gone);
  EXPECT_TRUE(gone.err.starts_with("relayctl: NOT_FOUND: ")) << gone.err;

  // The load stops; the first destination has every message, in order.
  ASSERT_TRUE(first.wait_for_count(first.count() + 500, 15s)) << load.stall_report();
  const std::uint64_t total = load.stop();
  EXPECT_FALSE(load.stalled()) << load.stall_report();
  ASSERT_TRUE(first.wait_for_count(total, 15s)) << "first destination: " << first.count() << " of " << total;
  EXPECT_TRUE(is_whole_stream(first.messages(), total)) << "first destination";
  EXPECT_EQ(first.framing_errors(), 0u);

  // `stats --json` agrees with the sinks (its counters are read, not pushed: poll, bounded).
  pb::Stats stats;
  const bool agree = wait_until(
      [&] {
        stats = json<pb::Stats>({"stats"});
        return stats.received().received_messages() == total && stats.destinations_size() == 1 &&
               stats.destinations(0).counters().sent_messages() == first.count();
      },
      15s);
  EXPECT_TRUE(agree) << "relayctl stats never agreed with the sinks (sent " << total << ", first sink " << first.count()
                     << "):\n"
                     << stats.DebugString();
  ASSERT_EQ(stats.listeners_size(), 1);
  EXPECT_EQ(stats.listeners(0).address(), "udp@127.0.0.1:" + std::to_string(udp_port_));
  EXPECT_EQ(stats.listeners(0).counters().received_messages(), total);
  EXPECT_EQ(stats.listeners(0).counters().kernel_drops(), 0u);
  EXPECT_EQ(stats.queue().tail(), total);
  ASSERT_EQ(stats.destinations_size(), 1);
  EXPECT_EQ(stats.destinations(0).address(), destination(first.port()));
  EXPECT_EQ(stats.destinations(0).counters().sent_messages(), total);
  EXPECT_EQ(stats.destinations(0).lag_messages(), 0u);
  EXPECT_EQ(stats.destinations(0).counters().dropped_lagging(), 0u);
  expect_snapshot_adds_up(stats, {{udp_port_, total}});

  stop_relayd_and_check(total);
}

// --- b. --start head ----------------------------------------------------------------------

TEST_F(ControlE2eTest, StartHeadReceivesWhatTheQueueStillHolds) {
  constexpr std::size_t kBefore = 2000;
  constexpr std::size_t kAfter = 500;
  TcpSink first, from_head, tail;
  ASSERT_NO_FATAL_FAILURE(start({destination(first.port())}));
  ASSERT_TRUE(first.wait_for_connections(1, 10s));
  UdpSender sender(udp_port_);
  ASSERT_TRUE(sender.send_paced(make_payloads(0, kBefore, kSize), [&] { return first.count(); }));
  ASSERT_TRUE(first.wait_for_count(kBefore, 15s));

  // 2000 small messages fit in the first 1 MiB segment: the queue still holds all of them.
  const auto before = json<pb::Stats>({"stats"});
  ASSERT_EQ(before.queue().tail(), kBefore);
  const std::uint64_t head = before.queue().head();
  ASSERT_LT(head, kBefore) << "the queue no longer holds any old message; the test cannot work";

  const auto a =
      json<pb::Destination>({"dest", "add", "127.0.0.1:" + std::to_string(from_head.port()), "--start", "head"});
  const auto t = json<pb::Destination>({"dest", "add", "127.0.0.1:" + std::to_string(tail.port())});  // default: tail
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(a.cursor(), head);
  EXPECT_EQ(a.lag_messages(), kBefore - head);
  EXPECT_EQ(t.cursor(), kBefore);
  EXPECT_EQ(t.lag_messages(), 0u);

  ASSERT_TRUE(from_head.wait_for_count(kBefore - head, 15s))
      << "--start head got " << from_head.count() << " of " << kBefore - head << " queued messages";
  ASSERT_TRUE(tail.wait_for_connections(1, 10s));
  ASSERT_TRUE(sender.send_paced(make_payloads(kBefore, kAfter, kSize), [&] {
    return std::min({first.count(), from_head.count() + head, tail.count() + kBefore});
  }));
  ASSERT_TRUE(from_head.wait_for_count(kBefore + kAfter - head, 15s));
  ASSERT_TRUE(tail.wait_for_count(kAfter, 15s));
  ASSERT_TRUE(first.wait_for_count(kBefore + kAfter, 15s));

  const auto ro = check_sequence(from_head.messages());
  EXPECT_EQ(ro.first, head);
  EXPECT_EQ(ro.last, kBefore + kAfter - 1);
  EXPECT_TRUE(ro.contiguous()) << "missing " << ro.missing << ", out of order " << ro.out_of_order;
  const auto rt = check_sequence(tail.messages());
  EXPECT_EQ(rt.first, kBefore) << "a --start tail destination got old messages";
  EXPECT_EQ(rt.last, kBefore + kAfter - 1);
  EXPECT_TRUE(rt.contiguous());
  EXPECT_TRUE(check_sequence(first.messages()).contiguous());
  EXPECT_EQ(first.count(), kBefore + kAfter);
  const PortCounts joined{{from_head.port(), head}, {tail.port(), kBefore}};
  expect_stats_add_up(kBefore + kAfter, joined);
  stop_relayd_and_check(kBefore + kAfter, joined);
}

// --- c. rm --drain with a backlog -------------------------------------------------------------

TEST_F(ControlE2eTest, RemoveWithDrainDeliversTheBacklogBeforeReturning) {
  constexpr std::size_t kBacklog = 3000;
  TcpSink first;
  // Down when added (nothing listens on its port): relayd keeps its backlog while backing off.
  TcpSink late({.port = reserve_port(), .start = false});
  ASSERT_NO_FATAL_FAILURE(start({destination(first.port())}));
  ASSERT_TRUE(first.wait_for_connections(1, 10s));
  const auto added = json<pb::Destination>({"dest", "add", "tcp@127.0.0.1:" + std::to_string(late.port())});
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(added.cursor(), 0u);
  const std::string id = std::to_string(added.id());

  UdpSender sender(udp_port_);
  ASSERT_TRUE(sender.send_paced(make_payloads(0, kBacklog, kSize), [&] { return first.count(); }));
  ASSERT_TRUE(first.wait_for_count(kBacklog, 15s));
  pb::Destination d;
  ASSERT_TRUE(wait_until(
      [&] {
        d = json<pb::Destination>({"dest", "get", id});
        return d.lag_messages() == kBacklog && d.counters().connect_failures() >= 1;
      },
      15s))
      << "no backlog on the down destination:\n"
      << d.DebugString();
  EXPECT_EQ(d.counters().sent_messages(), 0u);
  EXPECT_FALSE(d.last_error().empty());
  expect_stats_add_up(kBacklog);  // the down destination's backlog is its lag

  // rm --drain while it is still down: the call waits (draining) until the sink comes up.
  auto rm = std::async(std::launch::async, [&] {
    return ctl({"--json", "dest", "rm", id, "--drain", "--drain-timeout", "60s"}, 120s);
  });
  ASSERT_TRUE(wait_until(
      [&] {
        return json<pb::Destination>({"dest", "get", id}).state() == pb::DESTINATION_STATE_DRAINING;
      },
      15s))
      << "the destination never showed state draining";
  const auto ls = ctl({"dest", "ls"});
  EXPECT_EQ(ls.exit_code, 0) << describe(ls);
  EXPECT_TRUE(std::regex_search(
      ls.out, std::regex("tcp@127\\.0\\.0\\.1:" + std::to_string(late.port()) + " +lp32le +draining")))
      << ls.out;
  EXPECT_EQ(rm.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
      << "rm --drain returned while the destination was down";

  late.start();
  ASSERT_EQ(rm.wait_for(scaled(60s)), std::future_status::ready) << "rm --drain did not return";
  const RunResult r = rm.get();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  pb::Destination final_snapshot;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &final_snapshot).ok()) << r.out;
  EXPECT_EQ(final_snapshot.counters().sent_messages(), kBacklog);
  EXPECT_EQ(final_snapshot.counters().dropped_removed(), 0u);
  EXPECT_EQ(final_snapshot.cursor(), kBacklog);
  // Everything was written before rm returned; the sink reads it out of its socket.
  ASSERT_TRUE(late.wait_for_count(kBacklog, 15s)) << late.count() << " of " << kBacklog;
  EXPECT_TRUE(is_whole_stream(late.messages(), kBacklog));
  EXPECT_EQ(late.framing_errors(), 0u);
  EXPECT_TRUE(relayd_->wait_for_line("destination tcp@127\\.0\\.0\\.1:" + std::to_string(late.port()) +
                                         " removed, everything queued for it was written",
                                     5s));

  // A drain that cannot finish: the timeout bounds it and what is left is counted.
  TcpSink down({.port = reserve_port(), .start = false});
  const auto d2 = json<pb::Destination>({"dest", "add", "tcp@127.0.0.1:" + std::to_string(down.port())});
  ASSERT_TRUE(sender.send_paced(make_payloads(kBacklog, 100, kSize), [&] { return first.count(); }));
  ASSERT_TRUE(first.wait_for_count(kBacklog + 100, 15s));
  const auto t0 = Clock::now();
  const auto timed_out =
      json<pb::Destination>({"dest", "rm", std::to_string(d2.id()), "--drain", "--drain-timeout", "300ms"});
  EXPECT_GE(Clock::now() - t0, 300ms);
  EXPECT_EQ(timed_out.counters().sent_messages(), 0u);
  EXPECT_EQ(timed_out.counters().dropped_removed(), 100u);

  const auto left = json<pb::ListDestinationsResponse>({"dest", "ls"});
  ASSERT_EQ(left.destinations_size(), 1);
  EXPECT_EQ(left.destinations(0).address(), destination(first.port()));
  EXPECT_TRUE(check_sequence(first.messages()).contiguous());
  expect_stats_add_up(kBacklog + 100);
  stop_relayd_and_check(kBacklog + 100);
}

// A removal without drain while another destination is draining must not end that drain: each
// removal has its own drain timeout.
TEST_F(ControlE2eTest, ImmediateRemovalDoesNotCutAnotherDestinationsDrain) {
  constexpr std::size_t kBacklog = 1000;
  TcpSink first, other;
  TcpSink late({.port = reserve_port(), .start = false});
  ASSERT_NO_FATAL_FAILURE(start({destination(first.port())}));
  ASSERT_TRUE(first.wait_for_connections(1, 10s));
  const auto added = json<pb::Destination>({"dest", "add", destination(late.port())});
  ASSERT_FALSE(HasFailure());
  const std::string id = std::to_string(added.id());
  UdpSender sender(udp_port_);
  ASSERT_TRUE(sender.send_paced(make_payloads(0, kBacklog, kSize), [&] { return first.count(); }));
  ASSERT_TRUE(first.wait_for_count(kBacklog, 15s));
  ASSERT_TRUE(wait_until([&] { return json<pb::Destination>({"dest", "get", id}).lag_messages() == kBacklog; }, 15s));
  expect_stats_add_up(kBacklog);

  auto rm = std::async(std::launch::async, [&] {
    return ctl({"--json", "dest", "rm", id, "--drain", "--drain-timeout", "60s"}, 120s);
  });
  ASSERT_TRUE(wait_until(
      [&] {
        return json<pb::Destination>({"dest", "get", id}).state() == pb::DESTINATION_STATE_DRAINING;
      },
      15s));

  // Another destination comes and goes, removed at once.
  const auto o = json<pb::Destination>({"dest", "add", destination(other.port())});
  const auto r = ctl({"dest", "rm", std::to_string(o.id())});
  EXPECT_EQ(r.exit_code, 0) << describe(r);

  // The first removal is still draining: its 60 s have not passed and its sink is still down.
  const auto still = ctl({"--json", "dest", "get", id});
  std::optional<RunResult> early;
  if (rm.wait_for(0s) == std::future_status::ready) early = rm.get();
  EXPECT_FALSE(early) << "rm --drain returned while its destination was down, right after another "
                      << "destination's immediate removal:\n"
                      << describe(*early);
  EXPECT_EQ(still.exit_code, 0) << "the draining destination is gone after another one's removal\n" << describe(still);
  late.start();
  if (!early) {
    ASSERT_EQ(rm.wait_for(scaled(60s)), std::future_status::ready) << "rm --drain did not return";
  }
  const RunResult done = early ? *early : rm.get();
  ASSERT_EQ(done.exit_code, 0) << describe(done);
  pb::Destination final_snapshot;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(done.out, &final_snapshot).ok()) << done.out;
  ASSERT_EQ(final_snapshot.counters().dropped_removed(), 0u) << "the drain was cut short";
  EXPECT_EQ(final_snapshot.counters().sent_messages(), kBacklog);
  EXPECT_TRUE(late.wait_for_count(kBacklog, 15s)) << late.count() << " of " << kBacklog;
  expect_stats_add_up(kBacklog);
  stop_relayd_and_check(kBacklog);
}

// docs/CONTROL.md: on SIGTERM "the control server stops first (calls in flight get up to 2 s),
// then the relay drains" (--drain-timeout). A `rm --drain` waiting on a down destination must not
// hold relayd up for its own, much longer, drain timeout.
TEST_F(ControlE2eTest, SigtermDuringADrainingRemovalStopsPromptly) {
  TcpSink first;
  TcpSink down({.port = reserve_port(), .start = false});
  ASSERT_NO_FATAL_FAILURE(start({destination(first.port())}, {"--drain-timeout", "1"}));
  ASSERT_TRUE(first.wait_for_connections(1, 10s));
  const auto added = json<pb::Destination>({"dest", "add", destination(down.port())});
  ASSERT_FALSE(HasFailure());
  const std::string id = std::to_string(added.id());
  UdpSender sender(udp_port_);
  ASSERT_TRUE(sender.send_paced(make_payloads(0, 100, kSize), [&] { return first.count(); }));
  ASSERT_TRUE(first.wait_for_count(100, 15s));
  auto rm = std::async(std::launch::async, [&] {
    return ctl({"dest", "rm", id, "--drain", "--drain-timeout", "60s"}, 120s);
  });
  ASSERT_TRUE(wait_until(
      [&] {
        return json<pb::Destination>({"dest", "get", id}).state() == pb::DESTINATION_STATE_DRAINING;
      },
      15s));

  const auto t0 = Clock::now();
  relayd_->signal(SIGTERM);
  // 2 s for calls in flight + 1 s of drain, plus generous slack for a loaded machine.
  const auto budget = 2s + 1s + scaled(5s);
  EXPECT_EQ(relayd_->wait_exit(12s), 0);  // on timeout: killed, and a failure recorded
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  EXPECT_LT(took, budget) << "relayd took " << took.count()
                          << " ms to stop after SIGTERM with a draining removal pending";
  ASSERT_EQ(rm.wait_for(scaled(30s)), std::future_status::ready);
  const RunResult r = rm.get();
  EXPECT_EQ(r.exit_code, 3) << "a call cut by shutdown is UNAVAILABLE\n" << describe(r);
  expect_exit_report_adds_up(relayd_->stats(), {{udp_port_, 100}});
}

// --- c2. ingest pacing ---------------------------------------------------------------------------

// With --coalesce-us 10000 the pacer engages from 12.8k msg/s (a 10 ms wait must collect 128
// messages), a rate even a sanitized build sustains: under a 40k msg/s stream relayctl shows the
// wait, nothing is lost while relayd waits between polls, and once the stream stops it reads 0.
TEST_F(ControlE2eTest, IngestPacingShowsUnderLoadLosesNothingAndEnds) {
  TcpSink sink;
  ASSERT_NO_FATAL_FAILURE(start({destination(sink.port())}, {"--coalesce-us", "10000"}));
  ASSERT_TRUE(sink.wait_for_connections(1, 10s));
  pb::Stats stats = json<pb::Stats>({"stats"});
  ASSERT_EQ(stats.listeners_size(), 1);
  EXPECT_EQ(stats.ingest_wait_seconds(), 0.0) << "paced before any traffic";
  if (stats.listeners(0).rcvbuf_granted_bytes() < (4 << 20))
    GTEST_SKIP() << "receive buffer of " << stats.listeners(0).rcvbuf_granted_bytes()
                 << " bytes: too small for the pacer to wait at this rate (it needs SO_RCVBUFFORCE, i.e. root)";

  LoadGenerator load(
      {.port = udp_port_, .rate = 40000, .size = kSize, .window = 8192, .delivered = [&] { return sink.count(); }});
  load.start();
  const bool paced = wait_until(
      [&] {
        stats = json<pb::Stats>({"stats"});
        return stats.ingest_wait_seconds() > 0;
      },
      15s);
  EXPECT_TRUE(paced) << "relayd never paced its polls; sent " << load.sent() << "; " << load.stall_report();
  EXPECT_LE(stats.ingest_wait_seconds(), 0.010 + 1e-9) << "waited longer than --coalesce-us";
  // Half a second more of paced traffic.
  ASSERT_TRUE(sink.wait_for_count(sink.count() + 20000, 15s)) << load.stall_report();

  const std::uint64_t total = load.stop();
  EXPECT_FALSE(load.stalled()) << load.stall_report();
  ASSERT_TRUE(sink.wait_for_count(total, 15s)) << sink.count() << " of " << total;
  EXPECT_TRUE(is_whole_stream(sink.messages(), total));

  const bool calm = wait_until(
      [&] {
        stats = json<pb::Stats>({"stats"});
        return stats.ingest_wait_seconds() == 0;
      },
      10s);
  EXPECT_TRUE(calm) << "still pacing after the stream stopped: " << stats.ingest_wait_seconds() << " s";
  EXPECT_EQ(stats.listeners(0).counters().kernel_drops(), 0u);
  expect_snapshot_adds_up(stats, {{udp_port_, total}});
  stop_relayd_and_check(total);
}

// --- d. error paths ---------------------------------------------------------------------------

void expect_refused(const RunResult& r, const std::string& code, const std::string& mentions = {}) {
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(r.err.starts_with("relayctl: " + code + ": ")) << describe(r);
  if (!mentions.empty()) {
    EXPECT_TRUE(contains(r.err, mentions)) << "stderr should mention '" << mentions << "'\n" << describe(r);
  }
  EXPECT_EQ(r.out, "") << describe(r);
}

void expect_usage(const RunResult& r) {
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_FALSE(r.err.empty()) << describe(r);
}

// id and address of every destination, in order.
std::vector<std::pair<std::uint64_t, std::string>> ids(const pb::ListDestinationsResponse& list) {
  std::vector<std::pair<std::uint64_t, std::string>> v;
  for (const auto& d : list.destinations()) v.emplace_back(d.id(), d.address());
  return v;
}

TEST_F(ControlE2eTest, EveryErrorPathHasItsExitCodeAndLeavesTheDaemonUnchanged) {
  TcpSink first, second, third;
  ASSERT_NO_FATAL_FAILURE(start({destination(first.port())}, {"--max-destinations", "2"}));
  ASSERT_TRUE(first.wait_for_connections(1, 10s));
  const std::string second_addr = destination(second.port());
  const auto added = json<pb::Destination>({"dest", "add", second_addr});
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(second.wait_for_connections(1, 10s));

  // Healthy reads.
  auto r = ctl({"health"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "SERVING\n");
  r = ctl({"health", "--service", "relay.v1.RelayControl"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "SERVING\n");
  r = ctl({"--json", "health"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "\"status\":\"SERVING\"")) << r.out;

  r = ctl({"info"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(version +\d+\.\d+\.\d+)"))) << r.out;
  EXPECT_TRUE(contains(r.out, "udp@127.0.0.1:" + std::to_string(udp_port_))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(max_destinations +2\b)"))) << r.out;
  EXPECT_TRUE(contains(r.out, "127.0.0.1:0")) << "control address\n" << r.out;
  const auto info = json<pb::Info>({"info"});
  EXPECT_EQ(info.limits().max_destinations(), 2u);
  ASSERT_EQ(info.listeners_size(), 1);
  EXPECT_EQ(info.listeners(0).address(), "udp@127.0.0.1:" + std::to_string(udp_port_));
  EXPECT_GT(info.listeners(0).rcvbuf_granted_bytes(), 0);

  // Human output of dest ls / dest get: address and state.
  ASSERT_TRUE(wait_until(
      [&] {
        const auto l = json<pb::ListDestinationsResponse>({"dest", "ls"});
        return l.destinations_size() == 2 && l.destinations(0).state() == pb::DESTINATION_STATE_CONNECTED &&
               l.destinations(1).state() == pb::DESTINATION_STATE_CONNECTED;
      },
      10s));
  r = ctl({"dest", "ls"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  for (const auto& a : {destination(first.port()), second_addr}) {
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex(std::regex_replace(a, std::regex(R"(\.)"), R"(\.)") + " +lp32le +connected")))
        << a << " in\n"
        << r.out;
  }
  r = ctl({"dest", "get", std::to_string(added.id())});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex("address +" + std::regex_replace(second_addr, std::regex(R"(\.)"), R"(\.)"))))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(state +connected)"))) << r.out;
  EXPECT_TRUE(contains(r.out, "sent_messages")) << r.out;
  r = ctl({"dest", "get", second_addr});  // by address
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(std::regex_search(r.out, std::regex("id +" + std::to_string(added.id()) + "\\b"))) << r.out;

  const auto before = json<pb::ListDestinationsResponse>({"dest", "ls"});
  ASSERT_EQ(before.destinations_size(), 2);

  // Refusals by relayd: exit 1, "relayctl: CODE: message".
  expect_refused(ctl({"dest", "add", "tcp@127.0.0.1:notaport"}), "INVALID_ARGUMENT", "address");
  expect_refused(ctl({"dest", "add", "tcp@127.0.0.1"}), "INVALID_ARGUMENT", "address");
  expect_refused(ctl({"dest", "add", "udp@127.0.0.1:" + std::to_string(third.port())}), "INVALID_ARGUMENT", "address");
  // A framing in the address is checked by relayd; --framing is checked by relayctl (usage).
  expect_refused(ctl({"dest", "add", "tcp@127.0.0.1:" + std::to_string(third.port()) + "?framing=bogus"}),
                 "INVALID_ARGUMENT", "address");
  expect_usage(ctl({"dest", "add", "tcp@127.0.0.1:" + std::to_string(third.port()), "--framing", "bogus"}));
  // Same address twice, however it is spelled.
  expect_refused(ctl({"dest", "add", second_addr}), "ALREADY_EXISTS", second_addr);
  expect_refused(ctl({"dest", "add", "127.0.0.1:" + std::to_string(first.port())}), "ALREADY_EXISTS");
  // Unknown targets.
  expect_refused(ctl({"dest", "rm", "999"}), "NOT_FOUND", "999");
  expect_refused(ctl({"dest", "rm", "tcp@127.0.0.1:" + std::to_string(third.port())}), "NOT_FOUND");
  expect_refused(ctl({"dest", "get", "999"}), "NOT_FOUND", "999");
  expect_refused(ctl({"dest", "rm", "999", "--drain", "--drain-timeout", "1s"}), "NOT_FOUND");
  // The destination limit (2, both in use).
  expect_refused(ctl({"dest", "add", destination(third.port())}), "RESOURCE_EXHAUSTED");
  expect_refused(ctl({"dest", "add", destination(third.port()), "--start", "head"}), "RESOURCE_EXHAUSTED");
  // Not serving that service.
  r = ctl({"health", "--service", "no.such.Service"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(r.err.starts_with("relayctl: NOT_FOUND")) << describe(r);

  // Usage errors: exit 2, nothing sent.
  expect_usage(ctl({"bogus"}));
  expect_usage(ctl({"dest", "bogus"}));
  expect_usage(ctl({"dest", "add"}));
  expect_usage(ctl({"--no-such-flag", "info"}));
  expect_usage(ctl({"dest", "ls", "--no-such-flag"}));
  expect_usage(ctl({"dest", "add", destination(third.port()), "--start", "middle"}));
  expect_usage(ctl({"dest", "rm", std::to_string(added.id()), "--drain-timeout", "1s"}));  // needs --drain
  expect_usage(ctl({"--timeout", "soon", "info"}));
  expect_usage(ctl({"stats", "--watch", "--interval", "10ms"}));
  expect_usage(ctl_->run_raw({}));

  // Unreachable: exit 3 and stderr names the address.
  const std::string nobody = "127.0.0.1:" + std::to_string(reserve_port());
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"health"}, {"dest", "ls"}, {"dest", "add", destination(third.port())}}) {
    std::vector<std::string> full{"--server", nobody, "--timeout", "2s"};
    full.insert(full.end(), args.begin(), args.end());
    r = ctl_->run_raw(full);
    EXPECT_EQ(r.exit_code, 3) << ::testing::PrintToString(args) << "\n" << describe(r);
    EXPECT_TRUE(r.err.starts_with("relayctl: cannot reach relayd at " + nobody + ": ")) << describe(r);
  }

  // relayd audited the refused changes, one line each, with who asked and from where.
  EXPECT_TRUE(
      relayd_->wait_for_line("audit: anonymous from ipv4:127.0.0.1:[0-9]+: AddDestination .* -> ALREADY_EXISTS", 5s));
  EXPECT_TRUE(relayd_->wait_for_line("audit: anonymous from .*: AddDestination .* -> RESOURCE_EXHAUSTED", 5s));
  EXPECT_TRUE(relayd_->wait_for_line("audit: anonymous from .*: RemoveDestination .* -> NOT_FOUND", 5s));

  // Unchanged: the same destinations, and it still relays to both.
  const auto after = json<pb::ListDestinationsResponse>({"dest", "ls"});
  EXPECT_EQ(ids(after), ids(before));
  EXPECT_EQ(third.connections(), 0u) << "a refused destination was connected to";
  UdpSender sender(udp_port_);
  ASSERT_TRUE(
      sender.send_paced(make_payloads(0, 1000, kSize), [&] { return std::min(first.count(), second.count()); }));
  ASSERT_TRUE(first.wait_for_count(1000, 15s));
  ASSERT_TRUE(second.wait_for_count(1000, 15s));
  EXPECT_TRUE(check_sequence(first.messages()).contiguous());
  EXPECT_TRUE(check_sequence(second.messages()).contiguous());
  EXPECT_EQ(first.count(), 1000u);
  EXPECT_EQ(second.count(), 1000u);
  expect_stats_add_up(1000);
  stop_relayd_and_check(1000);
}

}  // namespace
}  // namespace relay::test

namespace relay::test {
namespace {

std::string graphite_line(std::size_t i) {
  return "relay.replace.metric" + std::to_string(i % 200) + " " + std::to_string(i) + " 1700000000";
}

std::string hash_group(const std::vector<const TcpSink*>& members) {
  std::string out = "hash";
  char sep = '@';
  for (const auto* m : members) {
    out.push_back(sep);
    out.append("127.0.0.1:").append(std::to_string(m->port()));
    sep = ',';
  }
  return out.append("?framing=line");
}

// A hash@ group gains a member through `dest add --replace`: the new group goes on from the old
// one's cursor, so every message arrives; relayd logs the share of keys that moved (about 1/3
// from two members to three), and the keys that stayed keep their member.
TEST_F(ControlE2eTest, ReplacingAGroupWithMoreMembersLosesNothingAndMovesAThird) {
  constexpr std::size_t kHalf = 3000;
  TcpSink a(Framing::line), b(Framing::line), c(Framing::line);
  start({hash_group({&a, &b})});
  ASSERT_TRUE(a.wait_for_connections(1, 10s));
  ASSERT_TRUE(b.wait_for_connections(1, 10s));
  UdpSender sender(udp_port_);
  std::vector<std::string> first, second;
  for (std::size_t i = 0; i < kHalf; ++i) first.push_back(graphite_line(i));
  for (std::size_t i = kHalf; i < 2 * kHalf; ++i) second.push_back(graphite_line(i));
  const auto total = [&] { return a.count() + b.count() + c.count(); };
  ASSERT_TRUE(sender.send_paced(first, total));

  const RunResult r = ctl({"dest", "add", hash_group({&a, &b, &c}), "--replace", "1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("added, replacing 1"), std::string::npos) << r.out;
  const auto moved = relayd_->wait_for_line(
      R"(([0-9.]+) % of keys change member \(\d+ of 100000 sampled keys; members 2 -> 3\))", 10s);
  ASSERT_TRUE(moved) << relayd_->log_text();
  const double share = std::stod(moved->substr(moved->find(": ") + 2));
  EXPECT_GT(share, 30.0) << *moved;
  EXPECT_LT(share, 37.0) << *moved;

  ASSERT_TRUE(sender.send_paced(second, total));
  ASSERT_TRUE(wait_until([&] { return total() >= 2 * kHalf; }, 20s)) << total() << " of " << 2 * kHalf;
  const auto listed = json<pb::ListDestinationsResponse>({"dest", "ls"});
  ASSERT_EQ(listed.destinations_size(), 1);
  EXPECT_EQ(listed.destinations(0).address(), hash_group({&a, &b, &c}));
  stop_relayd();
  std::set<std::size_t> numbers;
  for (const auto* s : {&a, &b, &c})
    for (const auto& m : s->messages()) numbers.insert(std::stoul(m.substr(m.find(' ') + 1)));
  EXPECT_EQ(numbers.size(), 2 * kHalf) << "messages lost across the replacement";
  EXPECT_GT(c.count(), kHalf / 6) << "the new member got no share";
  EXPECT_LT(c.count(), kHalf * 2 / 3);
}

}  // namespace
}  // namespace relay::test
