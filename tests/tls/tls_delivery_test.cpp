// TLS delivery: messages relayed to tls@ destinations arrive byte-exact in every framing, many
// per TLS record, and a client certificate is presented when the destination requires one.
#include <gtest/gtest.h>
#include <signal.h>

#include "accounting.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "test_pki.hpp"
#include "timeouts.hpp"
#include "tls_sink.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

constexpr std::size_t kMessages = 3000;

std::string tls_destination(std::uint16_t port, Framing f, const std::string& options) {
  return "tls@127.0.0.1:" + std::to_string(port) + "?framing=" + std::string(name(f)) + "&" + options;
}

// Mixed sizes, so records hold many small messages and some messages span records.
std::vector<std::string> mixed_payloads(std::size_t count) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) out.push_back(make_payload(i, i % 50 == 0 ? 20000 : 40 + i % 300));
  return out;
}

TEST(TlsDeliveryTest, EveryFramingByteExact) {
  TestPki pki;
  const Credential server = pki.server("server", {"127.0.0.1"});
  const std::vector<Framing> framings{Framing::lp32le, Framing::lp32be, Framing::line, Framing::raw};
  std::vector<std::unique_ptr<TlsSink>> sinks;
  std::vector<std::string> destinations;
  for (Framing f : framings) {
    sinks.push_back(std::make_unique<TlsSink>(TlsSink::Options{f, server.cert_pem, server.key_pem, ""}));
    destinations.push_back(tls_destination(sinks.back()->port(), f, "ca=" + pki.ca_path()));
  }
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", destinations));
  ASSERT_TRUE(relayd.wait_ready());
  for (auto& s : sinks) ASSERT_TRUE(s->wait_for_connections(1, 10s));

  const auto payloads = mixed_payloads(kMessages);
  std::string raw_expected;
  for (const auto& p : payloads) raw_expected += encode(Framing::raw, p);
  // Delivered: the slowest sink, raw counted by its bytes.
  const auto delivered = [&] {
    std::size_t least = kMessages;
    for (std::size_t i = 0; i + 1 < sinks.size(); ++i) least = std::min(least, sinks[i]->count());
    const std::size_t raw_bytes = sinks.back()->bytes().size();
    std::size_t raw_whole = 0;
    for (std::size_t seen = 0; raw_whole < payloads.size() && seen + payloads[raw_whole].size() <= raw_bytes;
         ++raw_whole)
      seen += payloads[raw_whole].size();
    return std::min(least, raw_whole);
  };
  UdpSender sender(relayd.udp_port());
  ASSERT_TRUE(sender.send_paced(payloads, delivered));
  ASSERT_TRUE(wait_until([&] { return delivered() == kMessages; }, 20s)) << delivered() << " of " << kMessages;
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  for (std::size_t i = 0; i + 1 < sinks.size(); ++i) {
    const auto got = sinks[i]->messages();
    ASSERT_EQ(got.size(), kMessages) << name(framings[i]);
    for (std::size_t m = 0; m < kMessages; ++m)
      ASSERT_EQ(got[m], decoded(framings[i], payloads[m])) << name(framings[i]) << " message " << m;
    EXPECT_EQ(sinks[i]->framing_errors(), 0u) << name(framings[i]);
  }
  EXPECT_EQ(sinks.back()->bytes(), raw_expected) << "raw stream differs";
  // relayd stopping ends each session deliberately (close_notify), not by cutting it.
  for (auto& s : sinks) EXPECT_TRUE(wait_until([&] { return s->clean_ends() == 1; }, 5s)) << s->clean_ends();

  const auto stats = relayd.stats();
  for (std::size_t i = 0; i < sinks.size(); ++i) {
    const auto d = stats.destination(sinks[i]->port());
    ASSERT_TRUE(d) << name(framings[i]);
    EXPECT_EQ(d->u("sent_messages"), kMessages) << name(framings[i]);
    EXPECT_EQ(d->u("tls_handshake_failures"), 0u);
    EXPECT_EQ(d->u("connects"), 1u);
    EXPECT_EQ(sinks[i]->connections(), 1u);
    EXPECT_EQ(sinks[i]->connection_bytes().at(0), d->u("sent_bytes")) << name(framings[i]);
  }
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), kMessages}});
}

TEST(TlsDeliveryTest, PresentsTheClientCertificateWhenRequired) {
  TestPki pki;
  const Credential server = pki.server("server", {"localhost", "127.0.0.1"});
  const Credential client = pki.client("client", "relayd-egress");
  TlsSink sink(TlsSink::Options{Framing::lp32le, server.cert_pem, server.key_pem, pki.ca_pem()});
  // By name this time: sni=localhost is sent and checked against the certificate's DNS SAN.
  const std::string dest = "tls@127.0.0.1:" + std::to_string(sink.port()) + "?ca=" + pki.ca_path() +
                           "&sni=localhost&cert=" + client.cert_path + "&key=" + client.key_path;
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {dest}));
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_TRUE(sink.wait_for_connections(1, 10s));
  EXPECT_TRUE(relayd.wait_for_line("connected \\(TLSv1\\.[23] ", 5s)) << "the connected line names the protocol";
  UdpSender sender(relayd.udp_port());
  ASSERT_TRUE(sender.send_paced(make_payloads(0, 500, 100), [&] { return sink.count(); }));
  ASSERT_TRUE(sink.wait_for_count(500, 10s));
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  ASSERT_EQ(sink.client_subjects().size(), 1u);
  EXPECT_NE(sink.client_subjects()[0].find("CN=relayd-egress"), std::string::npos) << sink.client_subjects()[0];
  EXPECT_EQ(sink.handshake_failures(), 0u);
  expect_exit_report_adds_up(relayd.stats(), {{relayd.udp_port(), 500}});
}

}  // namespace
}  // namespace relay::test
