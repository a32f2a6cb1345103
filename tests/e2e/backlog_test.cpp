// Backlog: a destination that is down when relayd starts gets the queued backlog once it comes
// up, then the live stream, in order. With a queue budget too small for the backlog, what the
// budget forced out is accounted as dropped_lagging, and the live destination loses nothing.
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

TcpSink::Options down_sink(std::uint16_t port) {
  TcpSink::Options o;
  o.port = port;
  o.start = false;
  return o;
}

TEST(BacklogTest, DestinationDownAtStartGetsBacklogThenLiveStream) {
  constexpr std::size_t kBacklog = 2000, kLive = 2000, kSize = 200;
  TcpSink late(down_sink(reserve_port()));
  TcpSink live(Framing::lp32le);
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {destination(late.port()), destination(live.port())}));
  ASSERT_TRUE(relayd.wait_ready());
  UdpSender sender(relayd.udp_port());

  ASSERT_TRUE(sender.send_paced(make_payloads(0, kBacklog, kSize), [&] { return live.count(); }));
  late.start();
  ASSERT_TRUE(late.wait_for_count(kBacklog, 20s)) << "backlog delivered: " << late.count() << " of " << kBacklog;
  ASSERT_TRUE(
      sender.send_paced(make_payloads(kBacklog, kLive, kSize), [&] { return std::min(live.count(), late.count()); }));
  const std::size_t total = kBacklog + kLive;
  ASSERT_TRUE(late.wait_for_count(total, 20s)) << late.count() << " of " << total;
  ASSERT_TRUE(live.wait_for_count(total, 20s)) << live.count() << " of " << total;

  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  for (const TcpSink* s : {&late, &live}) {
    const auto r = check_sequence(s->messages());
    EXPECT_TRUE(r.contiguous()) << "sink " << s->port() << ": missing " << r.missing << ", out of order "
                                << r.out_of_order;
    EXPECT_EQ(r.count, total);
    EXPECT_EQ(s->framing_errors(), 0u);
  }
  const auto d = relayd.stats().destination(late.port());
  ASSERT_TRUE(d);
  EXPECT_GE(d->u("connect_failures"), 1u) << "relayd should have failed to connect while it was down";
  EXPECT_EQ(d->u("sent_messages"), total);
  EXPECT_EQ(d->u("dropped_lagging"), 0u);
  expect_exit_report_adds_up(relayd.stats(), {{relayd.udp_port(), total}});
}

TEST(BacklogTest, QueueBudgetEvictsForTheLaggingDestinationOnly) {
  // 10 MB of traffic against a 4 MiB budget while one destination is down.
  constexpr std::size_t kMessages = 10000, kSize = 1000;
  TcpSink late(down_sink(reserve_port()));
  TcpSink live(Framing::lp32le);
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {destination(late.port()), destination(live.port())},
                                   {"--max-queue-bytes", "4M"}));
  ASSERT_TRUE(relayd.wait_ready());
  UdpSender sender(relayd.udp_port());
  ASSERT_TRUE(sender.send_paced(make_payloads(0, kMessages, kSize), [&] { return live.count(); }));
  ASSERT_TRUE(live.wait_for_count(kMessages, 20s)) << live.count() << " of " << kMessages;

  late.start();
  ASSERT_TRUE(wait_until(
      [&] {
        const auto m = late.messages();
        return !m.empty() && parse_seq(m.back()) == kMessages - 1;
      },
      20s))
      << "the late destination never caught up to the last message; it has " << late.count();

  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  const auto got = late.messages();
  const auto r = check_sequence(got);
  // The queue is FIFO: the budget evicts the oldest, so the late destination gets one unbroken suffix.
  EXPECT_TRUE(r.contiguous()) << "missing " << r.missing << ", out of order " << r.out_of_order;
  EXPECT_LT(got.size(), kMessages) << "4 MiB cannot hold 10 MB; something should have been evicted";
  EXPECT_TRUE(check_sequence(live.messages()).contiguous());
  EXPECT_EQ(live.count(), kMessages);

  const auto stats = relayd.stats();
  const auto d = stats.destination(late.port());
  const auto l = stats.listener(relayd.udp_port());
  ASSERT_TRUE(d && l);
  EXPECT_EQ(l->u("received_messages"), kMessages);
  EXPECT_EQ(l->u("dropped_queue_full"), 0u) << "the budget must evict for the laggard, not refuse new messages";
  EXPECT_GT(d->u("dropped_lagging"), 0u);
  EXPECT_EQ(got.size() + d->u("dropped_lagging"), kMessages);
  EXPECT_EQ(d->u("sent_messages"), got.size());
  const auto q = stats.queue();
  ASSERT_TRUE(q);
  EXPECT_LE(q->u("bytes_in_use"), q->u("max_queue_bytes"));
  EXPECT_GT(q->u("evictions"), 0u);
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), kMessages}});
}

// relayd with a lagging and a live destination, a budget the stream overruns several times, and
// no drain at exit: what is left for the laggard is counted as dropped_removed.
std::vector<std::string> laggard_args(const TcpSink& laggard, const TcpSink& live) {
  return relayd_args("udp@127.0.0.1:0", {destination(laggard.port()), destination(live.port())},
                     {"--max-queue-bytes", "64M", "--drain-timeout", "0"});
}

// Stops relayd; its exit report must show several evictions and every message accounted for.
void stop_and_expect_evictions_add_up(RelaydProcess& relayd, std::size_t messages) {
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  const auto stats = relayd.stats();
  const auto q = stats.queue();
  ASSERT_TRUE(q);
  EXPECT_GE(q->u("evictions"), 3u) << "the test needs several evictions while the reader lags";
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), messages}});
}

// A destination whose peer stops reading mid-message while the budget keeps evicting: the
// half-written message is carried aside and finished first, so each later eviction must count
// all it skips (it once counted one message less per eviction: the carried one, again).
TEST(BacklogTest, StalledReaderUnderRepeatedEvictionsAddsUp) {
  constexpr std::size_t kMessages = 3000, kSize = 30000;  // 90 MB through a 64 MiB budget
  TcpSink::Options stalled;
  stalled.paused = true;
  stalled.rcvbuf = 64 * 1024;
  TcpSink stuck(stalled);
  TcpSink live(Framing::lp32le);
  RelaydProcess relayd(laggard_args(stuck, live));
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_TRUE(stuck.wait_for_connections(1, 10s));
  UdpSender sender(relayd.udp_port());
  // A small window, so the budget evicts for the stalled reader rather than filling up.
  ASSERT_TRUE(sender.send_paced(
      make_payloads(0, kMessages, kSize), [&] { return live.count(); }, 8));
  ASSERT_TRUE(live.wait_for_count(kMessages, 20s)) << live.count() << " of " << kMessages;

  stop_and_expect_evictions_add_up(relayd, kMessages);
}

// A reader slower than the stream (about 3 MB/s against 30 KB messages sent as fast as the live
// destination takes them): evictions overtake it again and again, often mid-message.
TEST(BacklogTest, ThrottledReaderUnderEvictionsAddsUpAndGetsWholeMessagesInOrder) {
  constexpr std::size_t kMessages = 3000, kSize = 30000;
  TcpSink::Options slow_options;
  slow_options.read_rate = 3'000'000;
  slow_options.rcvbuf = 64 * 1024;
  TcpSink slow(slow_options);
  TcpSink live(Framing::lp32le);
  RelaydProcess relayd(laggard_args(slow, live));
  ASSERT_TRUE(relayd.wait_ready());
  UdpSender sender(relayd.udp_port());
  // In chunks, each after the slow reader has taken a few more messages: it reads (and finishes
  // carried messages) all along while the budget keeps overtaking it.
  constexpr std::size_t kChunk = 100;
  for (std::size_t first = 0; first < kMessages; first += kChunk) {
    const std::size_t before = slow.count();
    // A small window: the budget must evict for the slow reader, not fill up (dropped_queue_full
    // would then keep the live destination from getting everything, which this test waits for).
    ASSERT_TRUE(sender.send_paced(
        make_payloads(first, kChunk, kSize), [&] { return live.count(); }, 8));
    ASSERT_TRUE(wait_until([&] { return slow.count() >= before + 3; }, 10s)) << "the slow reader stopped reading";
  }
  ASSERT_TRUE(live.wait_for_count(kMessages, 20s)) << live.count() << " of " << kMessages;

  stop_and_expect_evictions_add_up(relayd, kMessages);
  EXPECT_GE(slow.count(), 3 * kMessages / kChunk) << "the slow reader should have read all along";
  const auto r = check_sequence(slow.messages());
  EXPECT_EQ(r.out_of_order, 0u) << "a slow destination may miss messages, never get them out of order";
  EXPECT_EQ(slow.framing_errors(), 0u) << "a carried message must reach the peer whole";
}

}  // namespace
}  // namespace relay::test
