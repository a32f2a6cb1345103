// TLS handshake failures: a destination whose certificate relayd must not trust (another CA,
// another name, expired) or that does not speak TLS at all is never sent a message; each failed
// handshake is counted (tls_handshake_failures, and connect_failures) and logged with OpenSSL's
// reason, at most once a second per destination.
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>

#include "accounting.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "tcp_sink.hpp"
#include "test_pki.hpp"
#include "timeouts.hpp"
#include "tls_sink.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

using std::chrono::hours;

struct Case {
  std::string what;
  std::uint16_t port;
  std::string options;  // after "?"
  std::string reason;   // in the log line
};

std::string log_line_for(const RelaydProcess& relayd, std::uint16_t port) {
  const std::string needle = "127.0.0.1:" + std::to_string(port);
  for (const auto& l : relayd.log_lines())
    if (l.find(needle) != std::string::npos && l.find("TLS handshake failed") != std::string::npos) return l;
  return {};
}

TEST(TlsHandshakeFailureTest, UntrustedOrNonTlsPeersGetNothingAndAreCounted) {
  TestPki pki;
  TestPki other;  // a CA relayd is not told about
  const Credential foreign = other.server("foreign", {"127.0.0.1"});
  const Credential misnamed = pki.server("misnamed", {"other.example"});
  const Credential expired = pki.server("expired", {"127.0.0.1"}, certs::Validity{-hours(48), -hours(24)});
  TlsSink wrong_ca(TlsSink::Options{Framing::lp32le, foreign.cert_pem, foreign.key_pem, ""});
  TlsSink wrong_name(TlsSink::Options{Framing::lp32le, misnamed.cert_pem, misnamed.key_pem, ""});
  TlsSink out_of_date(TlsSink::Options{Framing::lp32le, expired.cert_pem, expired.key_pem, ""});
  TcpSink plaintext(Framing::raw);  // reads the ClientHello, never answers
  const std::string ca = "ca=" + pki.ca_path();
  const std::vector<Case> cases{
      {"wrong CA", wrong_ca.port(), ca, "unable to get local issuer certificate"},
      {"name mismatch", wrong_name.port(), ca + "&sni=relay.example", "hostname mismatch"},
      {"expired", out_of_date.port(), ca, "certificate has expired"},
      {"plaintext server", plaintext.port(), ca, "TLS handshake failed: timed out"},
  };
  std::vector<std::string> destinations;
  for (const auto& c : cases) destinations.push_back("tls@127.0.0.1:" + std::to_string(c.port) + "?" + c.options);
  RelaydProcess relayd(
      relayd_args("udp@127.0.0.1:0", destinations, {"--connect-timeout", "1", "--drain-timeout", "0.5"}));
  ASSERT_TRUE(relayd.wait_ready());
  UdpSender sender(relayd.udp_port());
  for (const auto& p : make_payloads(0, 200, 100)) sender.send(p);
  for (const auto& c : cases)
    ASSERT_TRUE(wait_until([&] { return !log_line_for(relayd, c.port).empty(); }, 15s)) << c.what << ": no log line";
  // More than one attempt, so the counter is seen to count attempts: a third connection to the
  // plaintext server means two handshakes timed out.
  ASSERT_TRUE(plaintext.wait_for_connections(3, 15s));
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  const auto stats = relayd.stats();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_NE(log_line_for(relayd, c.port).find(c.reason), std::string::npos) << log_line_for(relayd, c.port);
    const auto d = stats.destination(c.port);
    ASSERT_TRUE(d);
    EXPECT_GE(d->u("tls_handshake_failures"), 1u);
    EXPECT_GE(d->u("connect_failures"), d->u("tls_handshake_failures"));
    EXPECT_EQ(d->u("connects"), 0u);
    EXPECT_EQ(d->u("sent_messages"), 0u);
    EXPECT_EQ(d->u("sent_bytes"), 0u);
  }
  EXPECT_GE(stats.destination(plaintext.port())->u("tls_handshake_failures"), 2u);
  for (const TlsSink* s : {&wrong_ca, &wrong_name, &out_of_date}) {
    EXPECT_EQ(s->count(), 0u);
    EXPECT_EQ(s->connections(), 0u);
    EXPECT_GE(s->handshake_failures(), 1u);
  }
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), 200}});
}

// The log stays readable however often a misconfigured destination is retried.
TEST(TlsHandshakeFailureTest, LogsAtMostOneLineASecond) {
  TestPki pki;
  TestPki other;
  const Credential foreign = other.server("foreign", {"127.0.0.1"});
  TlsSink sink(TlsSink::Options{Framing::lp32le, foreign.cert_pem, foreign.key_pem, ""});
  // Retried every 10 ms (data_path_options() would say 50-200 ms).
  RelaydProcess relayd({"--control", "none", "--stats-interval", "0", "--reconnect-min", "0.01", "--reconnect-max",
                        "0.01", "udp@127.0.0.1:0",
                        "tls@127.0.0.1:" + std::to_string(sink.port()) + "?ca=" + pki.ca_path()});
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_TRUE(sink.wait_for_handshake_failures(40, 20s));
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  std::size_t lines = 0;
  for (const auto& l : relayd.log_lines()) lines += l.find("TLS handshake failed") != std::string::npos;
  const auto failures = relayd.stats().destination(sink.port())->u("tls_handshake_failures");
  EXPECT_GE(failures, 40u);
  EXPECT_GE(lines, 1u);
  EXPECT_LT(lines * 4, failures) << lines << " lines for " << failures << " failures";
}

}  // namespace
}  // namespace relay::test
