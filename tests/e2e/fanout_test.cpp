// Fan-out: every datagram reaches every destination, in order and byte-exact, in each framing.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <memory>

#include "accounting.hpp"
#include "framing.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "sockets.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

constexpr std::size_t kDestinations = 3;
constexpr std::size_t kMessages = 3000;

// Sizes from the 34-byte minimum to ~1.4 KB so frames straddle TCP reads; in line framing
// every 10th payload already ends in '\n', which relayd must not double.
std::vector<std::string> varied_payloads(Framing framing) {
  std::vector<std::string> v;
  for (std::size_t i = 0; i < kMessages; ++i) {
    std::string p = make_payload(i, kPayloadHeader + (i * 37) % 1400);
    if (framing == Framing::line && i % 10 == 9) p.back() = '\n';
    v.push_back(std::move(p));
  }
  return v;
}

struct Sinks {
  std::vector<std::unique_ptr<TcpSink>> all;
  // Delivered to the slowest sink, in messages; raw framing counts whole payloads by bytes.
  std::size_t slowest(const std::vector<std::size_t>& raw_prefix) const {
    std::size_t least = static_cast<std::size_t>(-1);
    for (const auto& s : all) {
      std::size_t n = s->count();
      if (s->framing() == Framing::raw)
        n = static_cast<std::size_t>(std::upper_bound(raw_prefix.begin(), raw_prefix.end(), s->byte_count()) -
                                     raw_prefix.begin()) -
            1;
      least = std::min(least, n);
    }
    return least;
  }
};

// prefix[i] = bytes of the first i payloads.
std::vector<std::size_t> byte_prefix(const std::vector<std::string>& payloads) {
  std::vector<std::size_t> prefix{0};
  for (const auto& p : payloads) prefix.push_back(prefix.back() + p.size());
  return prefix;
}

void expect_delivered(const TcpSink& sink, const std::vector<std::string>& payloads) {
  EXPECT_EQ(sink.framing_errors(), 0u) << "sink " << sink.port();
  EXPECT_EQ(sink.connections(), 1u) << "sink " << sink.port() << " saw reconnects";
  if (sink.framing() == Framing::raw) {
    std::string expected;
    for (const auto& p : payloads) expected += p;
    EXPECT_TRUE(sink.bytes() == expected)
        << "raw stream differs; got " << sink.bytes().size() << " of " << expected.size() << " bytes";
    return;
  }
  const auto got = sink.messages();
  ASSERT_EQ(got.size(), payloads.size()) << "sink " << sink.port();
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], decoded(sink.framing(), payloads[i])) << "message " << i << " at sink " << sink.port();
}

void run_fanout(Framing framing, const std::string& listen_host) {
  Sinks sinks;
  std::vector<std::string> dests;
  for (std::size_t i = 0; i < kDestinations; ++i) {
    sinks.all.push_back(std::make_unique<TcpSink>(framing));
    // lp32le: one destination spells the default explicitly, the others rely on it.
    dests.push_back(destination(sinks.all.back()->port(), framing, i == 0));
  }
  const std::string listen =
      "udp@" + (listen_host.find(':') != std::string::npos ? "[" + listen_host + "]" : listen_host) + ":0";
  RelaydProcess relayd(relayd_args(listen, dests));
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_NE(relayd.udp_port(), 0) << "no 'listening on' line with a port";
  for (const auto& s : sinks.all)
    ASSERT_TRUE(s->wait_for_connections(1, 10s)) << "relayd never connected to " << s->port();

  const auto payloads = varied_payloads(framing);
  const auto prefix = byte_prefix(payloads);
  UdpSender sender(relayd.udp_port(), listen_host);
  ASSERT_TRUE(sender.send_paced(payloads, [&] { return sinks.slowest(prefix); }));
  ASSERT_TRUE(wait_until([&] { return sinks.slowest(prefix) >= kMessages; }, 20s))
      << "delivered to the slowest destination: " << sinks.slowest(prefix) << " of " << kMessages;

  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  for (const auto& s : sinks.all) expect_delivered(*s, payloads);

  const auto stats = relayd.stats();
  const auto listener = stats.listener(relayd.udp_port());
  ASSERT_TRUE(listener) << "no exit stats for the listener";
  EXPECT_EQ(listener->u("received_messages"), kMessages);
  EXPECT_EQ(listener->u("kernel_drops"), 0u);
  std::size_t framed_bytes = 0;  // what relayd wrote, framing included
  for (const auto& p : payloads) framed_bytes += encode(framing, p).size();
  for (const auto& s : sinks.all) {
    const auto d = stats.destination(s->port());
    ASSERT_TRUE(d) << "no exit stats for destination " << s->port();
    EXPECT_EQ(d->u("sent_messages"), kMessages);
    EXPECT_EQ(d->u("sent_bytes"), framed_bytes);
    EXPECT_EQ(d->u("dropped_lagging"), 0u);
    EXPECT_EQ(d->u("lag_messages"), 0u);
  }
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), kMessages}});
}

class FanoutTest : public ::testing::TestWithParam<Framing> {};

TEST_P(FanoutTest, EveryMessageReachesEveryDestinationInOrderByteExact) { run_fanout(GetParam(), "127.0.0.1"); }

INSTANTIATE_TEST_SUITE_P(Framings, FanoutTest,
                         ::testing::Values(Framing::lp32le, Framing::lp32be, Framing::line, Framing::raw),
                         [](const auto& p) { return std::string(name(p.param)); });

// --udp-gro with a GSO sender: the kernel hands relayd whole trains; every datagram must still
// reach every destination as its own message, in order, whatever the framing.
TEST(FanoutGroTest, GsoTrainsThroughUdpGroArriveWholeAndInOrder) {
  constexpr std::size_t kTrain = 40, kTrains = 100, kSize = 120;
  TcpSink lp32le(Framing::lp32le), line(Framing::line);
  RelaydProcess relayd(relayd_args(
      "udp@127.0.0.1:0", {destination(lp32le.port()), destination(line.port(), Framing::line)}, {"--udp-gro"}));
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_TRUE(lp32le.wait_for_connections(1, 10s));
  ASSERT_TRUE(line.wait_for_connections(1, 10s));
  UdpSender sender(relayd.udp_port());
  std::vector<std::string> all;
  for (std::size_t t = 0; t < kTrains; ++t) {
    std::vector<std::string> train;
    for (std::size_t i = 0; i < kTrain; ++i) {
      // The last datagram of every fifth train is shorter, as GSO allows.
      const std::size_t size = (t % 5 == 4 && i + 1 == kTrain) ? kPayloadHeader + 3 : kSize;
      train.push_back(make_payload(all.size(), size));
      all.push_back(train.back());
    }
    sender.send_gso(train);
    // Bounded pacing on delivery, so the socket buffer never overflows.
    ASSERT_TRUE(wait_until([&] { return std::min(lp32le.count(), line.count()) + 4 * kTrain >= all.size(); }, 20s))
        << "delivery stalled at " << std::min(lp32le.count(), line.count()) << " of " << all.size();
  }
  ASSERT_TRUE(wait_until([&] { return std::min(lp32le.count(), line.count()) >= all.size(); }, 20s));
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  expect_delivered(lp32le, all);
  expect_delivered(line, all);
  const auto listener = relayd.stats().listener(relayd.udp_port());
  ASSERT_TRUE(listener);
  EXPECT_EQ(listener->u("received_messages"), all.size());
  EXPECT_EQ(listener->u("dropped_oversized"), 0u);
  expect_exit_report_adds_up(relayd.stats(), {{relayd.udp_port(), all.size()}});
}

TEST(FanoutIpv6Test, Ipv6ListenerForwardsToIpv4Destinations) {
  if (!has_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback (::1) in this environment";
  run_fanout(Framing::lp32le, "::1");
}

}  // namespace
}  // namespace relay::test
