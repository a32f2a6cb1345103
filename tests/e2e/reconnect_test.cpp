// Reconnect: a destination that crashes (RST) and restarts on the same port mid-stream gets a
// clean stream on the new connection and the rest of the messages in order.
//
// At-least-once (the default): what the crashed connection had not acknowledged is sent again on
// the next one, so duplicates are possible, as many as relayd counts in resent_unacked at most.
// Accepted loss: what the sink's kernel had acknowledged but the sink had not read yet is gone
// with the crash (crash_loop_test measures it); the test bounds it by relayd's counters.
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

constexpr std::size_t kPhase = 3000;  // messages per phase: before, during and after the outage
constexpr std::size_t kSize = 200;

TEST(ReconnectTest, DestinationCrashAndRestartKeepsFramingAndOrder) {
  TcpSink crashing(Framing::lp32le);
  TcpSink steady(Framing::lp32be);
  RelaydProcess relayd(
      relayd_args("udp@127.0.0.1:0", {destination(crashing.port()), destination(steady.port(), Framing::lp32be)}));
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_TRUE(crashing.wait_for_connections(1, 10s));
  UdpSender sender(relayd.udp_port());
  const auto steady_count = [&] { return steady.count(); };

  // Phase 1: both up; pace on the slower of the two.
  ASSERT_TRUE(
      sender.send_paced(make_payloads(0, kPhase, kSize), [&] { return std::min(steady.count(), crashing.count()); }));
  // Phase 2: crash mid-stream and stay down while traffic continues.
  crashing.stop();
  ASSERT_TRUE(sender.send_paced(make_payloads(kPhase, kPhase, kSize), steady_count));
  // Phase 3: restart on the same port; relayd reconnects and catches up.
  crashing.start();
  ASSERT_TRUE(crashing.wait_for_connections(2, 10s)) << "relayd did not reconnect to the restarted destination";
  ASSERT_TRUE(sender.send_paced(make_payloads(2 * kPhase, kPhase, kSize), steady_count));

  const std::size_t total = 3 * kPhase;
  ASSERT_TRUE(steady.wait_for_count(total, 20s)) << steady.count() << " of " << total;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto m = crashing.messages();
        return !m.empty() && parse_seq(m.back()) == total - 1;
      },
      20s))
      << "the restarted destination never got the last message; it has " << crashing.count();

  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  EXPECT_EQ(crashing.framing_errors(), 0u);
  EXPECT_EQ(steady.framing_errors(), 0u);
  const auto got = crashing.messages();
  const auto report = check_sequence(got);
  EXPECT_EQ(report.unparsable, 0u);
  // Loss only at the crash, resends only at the reconnect: each connection's own stream is
  // gap-free and in order.
  const auto starts = crashing.connection_starts();
  for (std::size_t c = 0; c < starts.size(); ++c) {
    const auto end = c + 1 < starts.size() ? starts[c + 1] : got.size();
    const auto own = check_sequence(got, starts[c], end);
    EXPECT_EQ(own.missing, 0u) << "gap inside connection " << c;
    EXPECT_EQ(own.out_of_order, 0u) << "out of order inside connection " << c;
  }
  EXPECT_TRUE(check_sequence(steady.messages()).contiguous());

  const auto stats = relayd.stats();
  const auto listener = stats.listener(relayd.udp_port());
  ASSERT_TRUE(listener);
  EXPECT_EQ(listener->u("received_messages"), total);
  const auto d = stats.destination(crashing.port());
  ASSERT_TRUE(d);
  EXPECT_GE(d->u("reconnects"), 1u);
  EXPECT_GE(d->u("disconnects"), 1u);
  // Every message it got was acknowledged once, or resent after the crash.
  EXPECT_LE(got.size(), d->u("sent_messages") + d->u("resent_unacked"));
  EXPECT_LE(report.out_of_order, d->u("resent_unacked")) << "duplicates beyond what relayd resent";
  const auto s = stats.destination(steady.port());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->u("sent_messages"), total);
  for (auto port : {crashing.port(), steady.port()}) {
    const auto e = stats.destination(port);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->u("lag_messages"), 0u) << "destination " << port << " not drained at exit";
  }
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), total}});
  RecordProperty("duplicates", static_cast<int>(report.out_of_order));
  RecordProperty("missing", static_cast<int>(report.missing));
}

}  // namespace
}  // namespace relay::test
