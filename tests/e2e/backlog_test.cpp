// Backlog: a destination that is down when relayd starts gets the queued backlog once it comes
// up, then the live stream, in order. With a queue budget too small for the backlog, what the
// budget forced out is accounted as dropped_lagging, and the live destination loses nothing.
#include <gtest/gtest.h>
#include <signal.h>

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
}

}  // namespace
}  // namespace relay::test
