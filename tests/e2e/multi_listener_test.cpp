// Several listeners (--listen): UDP over IPv4, UDP over IPv6 and TCP ingest feed one queue; every
// destination gets every message, and each listener's messages stay in their own order.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>

#include "accounting.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "sockets.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

constexpr std::size_t kPerListener = 1000;
constexpr std::size_t kSize = 64;

TEST(MultiListenerTest, EveryListenerFeedsEveryDestination) {
  const bool v6 = has_ipv6_loopback();
  TcpSink a(Framing::lp32le);
  TcpSink b(Framing::line);
  std::initializer_list<std::string> extra = {"--listen", v6 ? "udp@[::1]:0" : "udp@127.0.0.1:0"};
  RelaydProcess relayd(
      relayd_args("udp@127.0.0.1:0",
                  {destination(a.port(), Framing::lp32le, false), destination(b.port(), Framing::line, false)}, extra));
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_NE(relayd.listen_port(0), 0);
  ASSERT_NE(relayd.listen_port(1), 0) << "no 'listening on' line for the second listener";
  ASSERT_TRUE(a.wait_for_connections(1, 10s));
  ASSERT_TRUE(b.wait_for_connections(1, 10s));

  // Disjoint sequence ranges per listener, so the sinks can tell them apart.
  UdpSender first(relayd.listen_port(0), "127.0.0.1");
  UdpSender second(relayd.listen_port(1), v6 ? "::1" : "127.0.0.1");
  const auto delivered = [&] { return std::min(a.count(), b.count()); };
  ASSERT_TRUE(first.send_paced(make_payloads(0, kPerListener, kSize), delivered));
  ASSERT_TRUE(second.send_paced(make_payloads(1'000'000, kPerListener, kSize), delivered));
  ASSERT_TRUE(wait_until([&] { return delivered() >= 2 * kPerListener; }, 20s)) << delivered();

  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  for (const TcpSink* sink : {&a, &b}) {
    std::map<bool, std::uint64_t> next{{false, 0}, {true, 1'000'000}};  // per listener: expected seq
    for (const auto& m : sink->messages()) {
      const auto seq = parse_seq(m);
      ASSERT_TRUE(seq) << "unparsable message at sink " << sink->port();
      const bool from_second = *seq >= 1'000'000;
      ASSERT_EQ(*seq, next[from_second]) << "listener " << (from_second ? 2 : 1) << " out of order at sink "
                                         << sink->port();
      ++next[from_second];
    }
    EXPECT_EQ(next[false], kPerListener);
    EXPECT_EQ(next[true], 1'000'000 + kPerListener);
  }
  const auto stats = relayd.stats();
  for (std::size_t i = 0; i < 2; ++i) {
    const auto l = stats.listener(relayd.listen_port(i));
    ASSERT_TRUE(l) << "no exit stats for listener " << i;
    EXPECT_EQ(l->u("received_messages"), kPerListener);
  }
  expect_exit_report_adds_up(stats, {{relayd.listen_port(0), kPerListener}, {relayd.listen_port(1), kPerListener}});
}

}  // namespace
}  // namespace relay::test
