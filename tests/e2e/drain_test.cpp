// Drain on SIGTERM: relayd stops receiving, flushes what is queued to destinations that can
// take it within --drain-timeout, and exits 0; a dead destination delays exit by at most the
// drain timeout.
#include <gtest/gtest.h>
#include <signal.h>

#include "accounting.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "sequence_check.hpp"
#include "sockets.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

// Whether relayd is still running a moment after SIGTERM, i.e. it is draining rather than exiting.
// A bounded wait for a condition that must NOT happen: the moment is short (0.5 s, scaled).
bool stays_running(RelaydProcess& relayd) {
  return !wait_until([&] { return !relayd.running(); }, 500ms);
}

void expect_all(const TcpSink& sink, std::size_t total) {
  const auto r = check_sequence(sink.messages());
  EXPECT_EQ(r.count, total) << "sink " << sink.port();
  EXPECT_TRUE(r.contiguous()) << "sink " << sink.port() << ": missing " << r.missing << ", out of order "
                              << r.out_of_order;
  EXPECT_EQ(sink.framing_errors(), 0u);
}

TEST(DrainTest, SlowDestinationGetsEverythingQueuedAfterSigterm) {
  constexpr std::size_t kMessages = 20000, kSize = 1000;
  // Small receive buffer and no reading: relayd's writes back up into its queue quickly.
  TcpSink::Options slow_opts;
  slow_opts.rcvbuf = 64 * 1024;
  slow_opts.paused = true;
  TcpSink slow(slow_opts);
  TcpSink fast(Framing::lp32le);
  RelaydProcess relayd(
      relayd_args("udp@127.0.0.1:0", {destination(slow.port()), destination(fast.port())}, {"--drain-timeout", "60"}));
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_TRUE(slow.wait_for_connections(1, 10s));
  UdpSender sender(relayd.udp_port());
  ASSERT_TRUE(sender.send_paced(make_payloads(0, kMessages, kSize), [&] { return fast.count(); }));
  ASSERT_TRUE(fast.wait_for_count(kMessages, 20s));

  relayd.signal(SIGTERM);
  EXPECT_TRUE(stays_running(relayd)) << "relayd exited with the slow destination's backlog unsent";
  EXPECT_EQ(slow.count(), 0u);
  slow.resume();
  ASSERT_TRUE(slow.wait_for_count(kMessages, 30s)) << slow.count() << " of " << kMessages;
  ASSERT_EQ(relayd.wait_exit(30s), 0);
  expect_all(slow, kMessages);
  expect_all(fast, kMessages);
  const auto d = relayd.stats().destination(slow.port());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->u("sent_messages"), kMessages);
  EXPECT_EQ(d->u("lag_messages"), 0u);
  expect_exit_report_adds_up(relayd.stats(), {{relayd.udp_port(), kMessages}});
}

TEST(DrainTest, DestinationStartedDuringDrainGetsTheBacklog) {
  constexpr std::size_t kMessages = 2000, kSize = 200;
  TcpSink::Options late_opts;
  late_opts.port = reserve_port();
  late_opts.start = false;
  TcpSink late(late_opts);
  TcpSink live(Framing::lp32le);
  RelaydProcess relayd(
      relayd_args("udp@127.0.0.1:0", {destination(late.port()), destination(live.port())}, {"--drain-timeout", "60"}));
  ASSERT_TRUE(relayd.wait_ready());
  UdpSender sender(relayd.udp_port());
  ASSERT_TRUE(sender.send_paced(make_payloads(0, kMessages, kSize), [&] { return live.count(); }));
  ASSERT_TRUE(live.wait_for_count(kMessages, 20s));

  relayd.signal(SIGTERM);
  EXPECT_TRUE(stays_running(relayd)) << "relayd exited with the down destination's backlog unsent";
  late.start();
  ASSERT_TRUE(late.wait_for_count(kMessages, 30s)) << late.count() << " of " << kMessages;
  ASSERT_EQ(relayd.wait_exit(30s), 0);
  expect_all(late, kMessages);
  expect_exit_report_adds_up(relayd.stats(), {{relayd.udp_port(), kMessages}});
}

TEST(DrainTest, DeadDestinationDelaysExitByAtMostTheDrainTimeout) {
  constexpr std::size_t kMessages = 500;
  constexpr auto kDrain = 2s;
  const std::uint16_t dead = reserve_port();
  TcpSink live(Framing::lp32le);
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {destination(dead), destination(live.port())},
                                   {"--drain-timeout", std::to_string(kDrain.count())}));
  ASSERT_TRUE(relayd.wait_ready());
  UdpSender sender(relayd.udp_port());
  ASSERT_TRUE(sender.send_paced(make_payloads(0, kMessages, 100), [&] { return live.count(); }));
  ASSERT_TRUE(live.wait_for_count(kMessages, 10s));

  const auto t0 = Clock::now();
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(kDrain + 10s), 0);
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  EXPECT_LE(elapsed, kDrain + scaled(1500ms)) << "exit took " << elapsed.count() << " ms";
  expect_all(live, kMessages);
  const auto d = relayd.stats().destination(dead);
  ASSERT_TRUE(d) << "no exit stats for the dead destination";
  EXPECT_EQ(d->u("sent_messages"), 0u);
  EXPECT_EQ(d->u("dropped_removed"), kMessages) << "what the drain timeout cut off is counted";
  expect_exit_report_adds_up(relayd.stats(), {{relayd.udp_port(), kMessages}});
}

}  // namespace
}  // namespace relay::test
