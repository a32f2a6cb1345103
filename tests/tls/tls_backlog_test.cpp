// TLS laggard: a tls@ destination that stops reading while the stream overruns the queue budget
// is overtaken by the eviction floor while TLS records are committed to its session but not yet
// on the wire. What was committed is finished whole (carried aside), the rest is counted as
// dropped_lagging, the live destination loses nothing, and the laggard's stream stays whole
// frames in order once it reads again.
#include <gtest/gtest.h>
#include <signal.h>

#include "accounting.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "sequence_check.hpp"
#include "tcp_sink.hpp"
#include "test_pki.hpp"
#include "timeouts.hpp"
#include "tls_sink.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

constexpr std::size_t kMessages = 12000;
constexpr std::size_t kSize = 1000;

TEST(TlsBacklogTest, EvictionOvertakesAStalledTlsDestinationWithoutCuttingAFrame) {
  TestPki pki;
  const Credential server = pki.server("server", {"127.0.0.1"});
  TlsSink stalled(TlsSink::Options{Framing::lp32le, server.cert_pem, server.key_pem, "", 64 * 1024});
  TcpSink live(Framing::lp32le);
  const std::string tls_dest = "tls@127.0.0.1:" + std::to_string(stalled.port()) + "?ca=" + pki.ca_path();
  RelaydProcess relayd(
      relayd_args("udp@127.0.0.1:0", {tls_dest, destination(live.port())}, {"--max-queue-bytes", "4M"}));
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_TRUE(stalled.wait_for_connections(1, 10s));
  stalled.pause();
  UdpSender sender(relayd.udp_port());
  ASSERT_TRUE(sender.send_paced(make_payloads(0, kMessages, kSize), [&] { return live.count(); }));
  ASSERT_TRUE(live.wait_for_count(kMessages, 20s)) << live.count() << " of " << kMessages;
  stalled.resume();
  ASSERT_TRUE(wait_until([&] { return parse_seq(stalled.last_message()) == kMessages - 1; }, 20s))
      << "the stalled destination never got the last message; it has " << stalled.count();
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  const auto got = stalled.messages();
  for (const auto& m : got) ASSERT_EQ(m.size(), kSize) << "a frame was cut";
  EXPECT_EQ(stalled.framing_errors(), 0u);
  const auto r = check_sequence(got);
  EXPECT_TRUE(r.in_order_without_duplicates()) << "out of order " << r.out_of_order << ", unparsable " << r.unparsable;
  EXPECT_LT(got.size(), kMessages) << "4 MiB cannot hold 12 MB; something should have been evicted";
  EXPECT_EQ(live.count(), kMessages);
  EXPECT_TRUE(check_sequence(live.messages()).contiguous());

  const auto stats = relayd.stats();
  const auto d = stats.destination(stalled.port());
  ASSERT_TRUE(d);
  EXPECT_GT(d->u("dropped_lagging"), 0u);
  EXPECT_EQ(d->u("disconnects"), 0u);
  // One connection throughout: everything written arrived.
  EXPECT_EQ(d->u("sent_messages"), got.size());
  EXPECT_EQ(got.size() + d->u("dropped_lagging"), kMessages);
  EXPECT_EQ(stats.listener(relayd.udp_port())->u("dropped_queue_full"), 0u);
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), kMessages}});
}

}  // namespace
}  // namespace relay::test
