// TLS reconnect: a destination that aborts its connection again and again mid-stream gets, on
// every new TLS session, whole frames in order — a message cut by the abort goes again whole —
// and relayd's counters add up.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>

#include "accounting.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "sequence_check.hpp"
#include "test_pki.hpp"
#include "timeouts.hpp"
#include "tls_sink.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

constexpr std::size_t kRounds = 6;
constexpr std::size_t kPerRound = 1500;
constexpr std::size_t kSize = 3000;  // a few per TLS record, so aborts land inside frames

TEST(TlsReconnectTest, AbortsMidStreamLeaveNoCutFrame) {
  TestPki pki;
  const Credential server = pki.server("server", {"127.0.0.1"});
  TlsSink sink(TlsSink::Options{Framing::lp32be, server.cert_pem, server.key_pem, ""});
  const std::string dest = "tls@127.0.0.1:" + std::to_string(sink.port()) + "?framing=lp32be&ca=" + pki.ca_path();
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {dest}));
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_TRUE(sink.wait_for_connections(1, 10s));
  UdpSender sender(relayd.udp_port());

  // Each round: half the messages, an abort while the last of them are still flowing, the other
  // half on the next session. Progress is the newest sequence number the sink has: messages
  // lost in an abort (relayd had written them into the socket) do not stall the pacing.
  const auto progress = [&]() -> std::size_t {
    const auto seq = parse_seq(sink.last_message());
    return seq ? *seq + 1 : 0;
  };
  std::size_t sent = 0;
  for (std::size_t round = 0; round < kRounds; ++round) {
    ASSERT_TRUE(sender.send_paced(make_payloads(sent, kPerRound / 2, kSize), progress));
    sink.close_connection();  // mid-stream: up to a window of messages is in flight
    ASSERT_TRUE(sink.wait_for_connections(round + 2, 10s)) << "relayd did not reconnect in round " << round;
    // The abort may have lost the whole window in flight (at-most-once: relayd had written it),
    // and then no newer message exists to move `progress` past it: the first half counts as
    // settled once the new session is up, or the pacing would wait forever for the lost ones.
    const std::size_t first_half = sent + kPerRound / 2;
    ASSERT_TRUE(sender.send_paced(make_payloads(first_half, kPerRound / 2, kSize),
                                  [&] { return std::max(progress(), first_half); }));
    sent += kPerRound;
    ASSERT_TRUE(wait_until([&] { return progress() == sent; }, 20s))
        << "round " << round << ": the last message never arrived";
  }

  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  EXPECT_EQ(sink.framing_errors(), 0u) << "a session began or ended inside a frame";
  const auto got = sink.messages();
  for (const auto& m : got) ASSERT_EQ(m.size(), kSize) << "a frame was cut";
  const auto report = check_sequence(got);
  EXPECT_TRUE(report.in_order_without_duplicates())
      << "out of order/duplicates: " << report.out_of_order << ", unparsable: " << report.unparsable;
  const auto starts = sink.connection_starts();
  ASSERT_EQ(starts.size(), kRounds + 1);
  for (std::size_t c = 0; c < starts.size(); ++c) {
    const auto end = c + 1 < starts.size() ? starts[c + 1] : got.size();
    EXPECT_EQ(check_sequence(got, starts[c], end).missing, 0u) << "gap inside session " << c;
  }
  const auto stats = relayd.stats();
  const auto d = stats.destination(sink.port());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->u("reconnects"), kRounds);
  EXPECT_EQ(d->u("disconnects"), kRounds);
  EXPECT_EQ(d->u("tls_handshake_failures"), 0u);
  EXPECT_LE(got.size(), d->u("sent_messages"));
  EXPECT_EQ(d->u("sent_messages"), kRounds * kPerRound);
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), kRounds * kPerRound}});
  RecordProperty("resent_partial", static_cast<int>(d->u("resent_partial")));
  RecordProperty("lost_in_aborts", static_cast<int>(d->u("sent_messages") - got.size()));
}

}  // namespace
}  // namespace relay::test
