// At-least-once delivery to a destination that crashes (issue #12): the destination is crashed
// (RST) 20 times under load and comes back each time. relayd must lose nothing but what the
// destination's own kernel had accepted and acknowledged (TCP cannot tell relayd about those
// bytes): what sat in relayd's send queue, unacknowledged, is sent again on the next connection.
//
// Each crash happens while the destination has stopped reading and its receive window is
// closed, so the bytes its kernel held are measured exactly at the crash (SIOCINQ, plus a frame
// decoded in part); meanwhile relayd's send queue holds unacknowledged messages, the case the
// issue measured (6 MB lost with the connection). The same run with delivery=at-most-once shows
// the bound can fail: there relayd's send queue is lost too (in release runs 2-3 times the bound).
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <set>
#include <thread>

#include "accounting.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "sequence_check.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

// 20 in CI; RELAY_TEST_CRASHES=100 for the longer run.
const int kCrashes = [] {
  const char* n = std::getenv("RELAY_TEST_CRASHES");
  return n != nullptr && std::atoi(n) > 0 ? std::atoi(n) : 20;
}();
constexpr std::size_t kSize = 64;
constexpr std::size_t kFramed = kSize + 4;  // lp32le
constexpr std::size_t kChunk = 500;

struct CrashRun {
  std::uint64_t total = 0;        // messages sent to relayd
  std::size_t unique = 0;         // distinct messages the crashing destination got
  std::size_t received = 0;       // messages it got, duplicates included
  std::uint64_t kernel_lost = 0;  // messages its kernel had accepted when it crashed (upper bound)
  std::uint64_t resent_unacked = 0;
  std::size_t out_of_order = 0;  // inside one connection
};

// Stopped reading, the sink's receive buffer fills and its window closes: nothing more can
// arrive, so the bytes it holds are final until the crash. Closed = unchanged for 20 ms while
// relayd has more to send.
bool wait_window_closed(const TcpSink& sink) {
  std::size_t last = static_cast<std::size_t>(-1);
  auto since = std::chrono::steady_clock::now();
  return wait_until(
      [&] {
        const std::size_t now = sink.unread_bytes();
        const auto t = std::chrono::steady_clock::now();
        if (now != last) {
          last = now;
          since = t;
        }
        return now > 0 && t - since >= 20ms;
      },
      10s);
}

CrashRun crash_loop(const std::string& delivery_option) {
  CrashRun run;
  TcpSink crashing(TcpSink::Options{.rcvbuf = 64 * 1024});
  TcpSink steady;
  RelaydProcess relayd(
      relayd_args("udp@127.0.0.1:0", {destination(crashing.port()) + delivery_option, destination(steady.port())}));
  if (!relayd.wait_ready() || !crashing.wait_for_connections(1, 10s)) {
    ADD_FAILURE() << "relayd did not start and connect";
    return run;
  }
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> sent{0};
  std::thread load([&] {
    UdpSender sender(relayd.udp_port());
    for (std::uint64_t seq = 0; !done.load(); seq += kChunk) {
      if (!sender.send_paced(
              make_payloads(seq, kChunk, kSize), [&] { return steady.count(); }, 256))
        break;
      sent.store(seq + kChunk);
    }
  });
  for (int i = 0; i < kCrashes && !::testing::Test::HasFailure(); ++i) {
    EXPECT_TRUE(crashing.wait_for_count(crashing.count() + 300, 10s)) << "crash " << i;
    crashing.pause();
    EXPECT_TRUE(wait_window_closed(crashing)) << "crash " << i;
    crashing.close_connection();
    crashing.resume();
    EXPECT_TRUE(crashing.wait_for_connections(static_cast<std::size_t>(i) + 2, 10s)) << "crash " << i;
  }
  done.store(true);
  load.join();
  run.total = sent.load();
  EXPECT_TRUE(steady.wait_for_count(run.total, 20s)) << steady.count() << " of " << run.total;
  EXPECT_TRUE(wait_until(
      [&] {
        const auto m = crashing.messages();
        return !m.empty() && parse_seq(m.back()) == run.total - 1;
      },
      20s))
      << "the crashing destination never got the last message";
  relayd.signal(SIGTERM);
  EXPECT_EQ(relayd.wait_exit(20s), 0);

  const auto got = crashing.messages();
  const auto all = seqs(got);
  run.received = got.size();
  run.unique = std::set<std::uint64_t>(all.begin(), all.end()).size();
  for (const std::size_t bytes : crashing.discarded_bytes()) run.kernel_lost += (bytes + kFramed - 1) / kFramed;
  const auto starts = crashing.connection_starts();
  for (std::size_t c = 0; c < starts.size(); ++c)
    run.out_of_order += check_sequence(got, starts[c], c + 1 < starts.size() ? starts[c + 1] : got.size()).out_of_order;
  const auto stats = relayd.stats();
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), run.total}});
  if (const auto d = stats.destination(crashing.port())) run.resent_unacked = d->u("resent_unacked");
  EXPECT_EQ(crashing.framing_errors(), 0u);
  return run;
}

void record(const CrashRun& r) {
  const std::uint64_t missing = r.total - r.unique;
  std::printf(
      "%llu messages, %d crashes: %llu missing (the destination's kernel held %llu), %zu duplicates, "
      "resent_unacked %llu\n",
      static_cast<unsigned long long>(r.total), kCrashes, static_cast<unsigned long long>(missing),
      static_cast<unsigned long long>(r.kernel_lost), r.received - r.unique,
      static_cast<unsigned long long>(r.resent_unacked));
  ::testing::Test::RecordProperty("missing", static_cast<int>(missing));
  ::testing::Test::RecordProperty("duplicates", static_cast<int>(r.received - r.unique));
}

TEST(CrashLoopTest, AtLeastOnceLosesOnlyWhatTheCrashedDestinationsKernelHeld) {
  const CrashRun r = crash_loop("");
  ASSERT_FALSE(::testing::Test::HasFailure());
  record(r);
  EXPECT_LE(r.total - r.unique, r.kernel_lost) << "relayd lost messages the destination's kernel never accepted";
  // Its send queue held unacknowledged messages at every crash (the window was closed).
  EXPECT_GE(r.resent_unacked, static_cast<std::uint64_t>(kCrashes));
  EXPECT_LE(r.received - r.unique, r.resent_unacked) << "duplicates beyond what relayd says it resent";
  EXPECT_EQ(r.out_of_order, 0u) << "each connection's stream is in order";
}

TEST(CrashLoopTest, AtMostOnceLosesWhatItsSendQueueHeld) {
  const CrashRun r = crash_loop("?delivery=at-most-once");
  ASSERT_FALSE(::testing::Test::HasFailure());
  record(r);
  // Everything the crashed kernels held (less a message per crash that the crash cut: that one
  // is resent whole), and relayd's send queue besides: in release runs far more than the bound
  // (the figures printed), under TSan relayd may not have filled its send queue.
  EXPECT_GE(r.total - r.unique + static_cast<std::uint64_t>(kCrashes), r.kernel_lost);
  EXPECT_EQ(r.resent_unacked, 0u);
  EXPECT_EQ(r.received, r.unique) << "at-most-once sent something twice";
}

}  // namespace
}  // namespace relay::test
