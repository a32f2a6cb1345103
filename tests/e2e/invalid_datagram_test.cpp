// Invalid datagrams: zero-length and oversized (> --max-message-size) datagrams are counted and
// never forwarded; the messages around them arrive intact.
#include <gtest/gtest.h>
#include <signal.h>

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

TEST(InvalidDatagramTest, EmptyAndOversizedAreCountedNotForwarded) {
  constexpr std::size_t kMax = 512, kGood = 300, kEvery = 10;
  TcpSink sink(Framing::lp32le);
  RelaydProcess relayd(
      relayd_args("udp@127.0.0.1:0", {destination(sink.port())}, {"--max-message-size", std::to_string(kMax)}));
  ASSERT_TRUE(relayd.wait_ready());
  UdpSender sender(relayd.udp_port());

  std::vector<std::string> good;
  std::size_t empties = 0, oversized = 0;
  for (std::size_t i = 0; i < kGood; ++i) {
    // Alternate sizes up to exactly the limit, which must still pass.
    good.push_back(make_payload(i, i % 2 ? kMax : 100));
    sender.send(good.back());
    if (i % kEvery == 0) {
      sender.send("");
      ++empties;
      sender.send(make_payload(1'000'000 + i, kMax + 1 + i));
      ++oversized;
    }
    // A small window so the kernel never drops: the check is that relayd drops exactly these.
    if (i % 32 == 31) {
      ASSERT_TRUE(sink.wait_for_count(i + 1, 10s)) << sink.count() << " of " << i + 1;
    }
  }
  ASSERT_TRUE(sink.wait_for_count(kGood, 10s));

  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  const auto got = sink.messages();
  EXPECT_TRUE(got == good) << "forwarded messages differ from the good ones (" << got.size() << " vs " << good.size()
                           << "); out of order " << check_sequence(got).out_of_order;
  const auto l = relayd.stats().listener(relayd.udp_port());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->u("dropped_empty"), empties);
  EXPECT_EQ(l->u("dropped_oversized"), oversized);
  EXPECT_EQ(l->u("received_messages"), kGood);
  EXPECT_EQ(l->u("kernel_drops"), 0u);
  expect_exit_report_adds_up(relayd.stats(), {{relayd.udp_port(), kGood + empties + oversized}});
}

}  // namespace
}  // namespace relay::test
