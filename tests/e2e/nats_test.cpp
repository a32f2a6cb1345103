// nats_test: relayd delivering into NATS JetStream — a 3-node nats-server cluster on loopback with
// an R3 stream — while the stream's leader is killed mid-stream (issue 13).
//
// What it shows: every message reaches the stream exactly once and in order (Nats-Msg-Id and
// payload sequence both 0..N-1, stream sequences 1..N), and relayd's exit report accounts for all
// N: sent_messages == N, nothing lagging or dropped, publish_failures counting the messages the
// dead leader never answered for (each sent again: the stream's duplicate window dropped those it
// had stored, Nats-Expected-Last-Msg-Id refused any that would have landed out of order).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <optional>

#include "accounting.hpp"
#include "nats_cluster.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

constexpr std::size_t kPhase = 8000;  // before the kill, while the cluster elects, after
constexpr std::size_t kSize = 120;
constexpr std::size_t kWindow = 2000;  // messages relayd may hold beyond what the stream has

TEST(NatsTest, LeaderKilledMidStreamLosesNothingAndKeepsOrder) {
  NatsCluster nats(3);
  ASSERT_TRUE(nats.add_stream("RELAY", "relay.e2e", 3));
  const std::string dest = "nats@" + nats.servers() + "/relay.e2e?timeout_ms=1000&msg_id_prefix=e2e";
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {dest}));
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_TRUE(relayd.wait_for_line("nats@.*: connected to", 15s)) << relayd.log_text();
  UdpSender sender(relayd.udp_port());

  // The stream's count, asked at most every 20 ms (each ask is a request to the cluster); while
  // no leader answers, the last count stands.
  std::uint64_t stored = 0;
  Clock::time_point asked{};
  const auto delivered = [&]() -> std::size_t {
    if (Clock::now() - asked > 20ms) {
      asked = Clock::now();
      if (const auto n = nats.stream_messages("RELAY")) stored = *n;
    }
    return stored;
  };

  ASSERT_TRUE(sender.send_paced(make_payloads(0, kPhase, kSize), delivered, kWindow, 30s));
  const auto leader = nats.stream_leader("RELAY");
  ASSERT_TRUE(leader);
  nats.kill(*leader);
  // Under load: these go out while the dead leader's acknowledgements are missing and the two
  // survivors elect a new one.
  ASSERT_TRUE(sender.send_paced(make_payloads(kPhase, kPhase, kSize), delivered, kWindow, 30s));
  ASSERT_TRUE(sender.send_paced(make_payloads(2 * kPhase, kPhase, kSize), delivered, kWindow, 30s));
  const std::uint64_t total = 3 * kPhase;
  ASSERT_TRUE(wait_until([&] { return delivered() >= total; }, 40s)) << stored << " of " << total << " stored\n"
                                                                     << relayd.log_text();
  const auto new_leader = nats.stream_leader("RELAY");
  ASSERT_TRUE(new_leader);
  EXPECT_NE(*new_leader, *leader);

  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  // The consumer's view: the whole stream, in stream order.
  const auto got = nats.read_stream("RELAY", "relay.e2e", total);
  ASSERT_EQ(got.size(), total);
  std::size_t wrong = 0;
  for (std::uint64_t i = 0; i < total; ++i) {
    const bool ok = got[i].seq == i + 1 && got[i].msg_id == "e2e-" + std::to_string(i) && parse_seq(got[i].data) == i &&
                    got[i].data.size() == kSize;
    if (!ok && ++wrong <= 5)
      ADD_FAILURE() << "stream seq " << got[i].seq << ": msg id " << got[i].msg_id << ", payload seq "
                    << parse_seq(got[i].data).value_or(~0ULL) << " (expected " << i << ")";
  }
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(nats.stream_messages("RELAY"), total) << "a duplicate got into the stream";

  const auto stats = relayd.stats();
  const auto listener = stats.listener(relayd.udp_port());
  ASSERT_TRUE(listener);
  EXPECT_EQ(listener->u("received_messages"), total);
  ASSERT_EQ(stats.destinations().size(), 1u);
  const auto& d = stats.destinations().begin()->second;
  EXPECT_EQ(d.u("sent_messages"), total);
  EXPECT_EQ(d.u("lag_messages"), 0u);
  EXPECT_EQ(d.u("dropped_lagging"), 0u);
  EXPECT_EQ(d.u("dropped_removed"), 0u);
  EXPECT_GE(d.u("connects"), 1u);
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), total}});
  RecordProperty("publish_failures", static_cast<int>(d.u("publish_failures")));
  RecordProperty("disconnects", static_cast<int>(d.u("disconnects")));
  std::printf("nats_test: %llu messages, leader n%d killed; publish_failures=%llu disconnects=%llu reconnects=%llu\n",
              static_cast<unsigned long long>(total), *leader, static_cast<unsigned long long>(d.u("publish_failures")),
              static_cast<unsigned long long>(d.u("disconnects")), static_cast<unsigned long long>(d.u("reconnects")));
}

}  // namespace
}  // namespace relay::test
