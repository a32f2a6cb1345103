// TLS ingest: a tls@ listener takes the lp32le frames a tcp@ listener takes, inside TLS. Frames
// of every size arrive byte-exact; with client_ca= a client without a certificate signed by that
// CA is refused; plaintext or garbage on the TLS port is a counted handshake failure that leaves
// other clients alone; an oversized or cut frame is counted as over TCP; a bad certificate or key
// file stops start-up with one line naming it.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>

#include "accounting.hpp"
#include "framing.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "tcp_client.hpp"
#include "tcp_sink.hpp"
#include "test_pki.hpp"
#include "timeouts.hpp"
#include "tls_client.hpp"

namespace relay::test {
namespace {

std::string tls_listener(const Credential& server, const std::string& client_ca = {}) {
  std::string out = "tls@127.0.0.1:0?cert=" + server.cert_path + "&key=" + server.key_path;
  if (!client_ca.empty()) out += "&client_ca=" + client_ca;
  return out;
}

// The port of the "listening on tls@127.0.0.1:PORT?..." line (0 if none).
std::uint16_t tls_port(RelaydProcess& relayd) {
  const std::string prefix = "listening on tls@127.0.0.1:";
  const auto line = relayd.wait_for_line(prefix + "[0-9]+", 10s);
  if (!line) return 0;
  return static_cast<std::uint16_t>(std::stoul(line->substr(line->find(prefix) + prefix.size())));
}

// Mixed sizes: many frames per TLS record, and some frames spanning several records.
std::vector<std::string> mixed_payloads(std::uint64_t first, std::size_t count) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i)
    out.push_back(make_payload(first + i, i % 97 == 0 ? 60000 : i % 13 == 0 ? 5000 : 40 + i % 300));
  return out;
}

std::string frames_of(const std::vector<std::string>& payloads) {
  std::string out;
  for (const auto& p : payloads) out += encode(Framing::lp32le, p);
  return out;
}

// Written in uneven pieces, so frames and TLS records are cut at arbitrary points.
bool send_in_pieces(TlsClient& client, const std::string& bytes) {
  std::size_t pos = 0;
  for (std::size_t i = 0; pos < bytes.size(); ++i) {
    const std::size_t piece = std::min(bytes.size() - pos, std::size_t{1} + (i * 7919) % 40000);
    if (!client.send_all(std::string_view(bytes).substr(pos, piece))) return false;
    pos += piece;
  }
  return true;
}

std::size_t handshake_failure_lines(const RelaydProcess& relayd) {
  const auto lines = relayd.log_lines();
  return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("TLS handshake with") != std::string::npos && l.find("failed") != std::string::npos;
  }));
}

TlsClient::Options trusting(const TestPki& pki, const Credential* client = nullptr) {
  TlsClient::Options o{pki.ca_pem(), "", ""};
  if (client != nullptr) {
    o.cert_pem = client->cert_pem;
    o.key_pem = client->key_pem;
  }
  return o;
}

// A server certificate from a test CA and the plain TCP sink relayd's tls@ listener feeds; each
// test starts its own relayd, with the listener options and flags it needs.
class TlsIngestTest : public ::testing::Test {
 protected:
  // Waits for `relayd` to be ready; its tls@ port, or 0 with a failure recorded.
  std::uint16_t started(RelaydProcess& relayd) {
    if (!relayd.wait_ready()) return 0;
    const std::uint16_t port = tls_port(relayd);
    if (port == 0) ADD_FAILURE() << "no 'listening on tls@...' line with a port";
    return port;
  }

  TestPki pki;
  const Credential server = pki.server("server", {"127.0.0.1"});
  TcpSink sink{Framing::lp32le};
};

TEST_F(TlsIngestTest, ManyFramesOfVariedSizesArriveByteExact) {
  constexpr std::size_t kMessages = 3000;
  RelaydProcess relayd(relayd_args(tls_listener(server), {destination(sink.port())}));
  const std::uint16_t port = started(relayd);
  ASSERT_NE(port, 0);

  const auto payloads = mixed_payloads(0, kMessages);
  {
    TlsClient client(port, trusting(pki));
    ASSERT_TRUE(client.handshake_ok()) << client.error();
    ASSERT_TRUE(send_in_pieces(client, frames_of(payloads)));
    ASSERT_TRUE(sink.wait_for_count(kMessages, 20s)) << sink.count() << " of " << kMessages;
  }
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  const auto got = sink.messages();
  ASSERT_EQ(got.size(), kMessages);
  for (std::size_t i = 0; i < kMessages; ++i) ASSERT_EQ(got[i], payloads[i]) << "message " << i;
  const auto stats = relayd.stats();
  expect_exit_report_adds_up(stats, {{port, kMessages}});
  const auto l = stats.listener(port);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->u("connections_accepted"), 1u);
  EXPECT_EQ(l->u("tls_handshake_failures"), 0u);
  EXPECT_EQ(l->u("receive_errors"), 0u) << "an end without close_notify is an ordinary close";
  EXPECT_NE(l->subject.find("?cert=" + server.cert_path + "&key=" + server.key_path), std::string::npos) << l->subject;
}

// Two full 16 KiB records: the first completes frame A and starts B, so the second finds the
// reader's 16 KiB buffer 80 bytes short; those 80 stay inside OpenSSL with nothing left on the
// socket to wake relayd. They must be read at once, not when the client sends more or leaves.
TEST_F(TlsIngestTest, PlaintextHeldInsideOpensslIsReadWithoutWaitingForTheSocket) {
  RelaydProcess relayd(relayd_args(tls_listener(server), {destination(sink.port())}));
  const std::uint16_t port = started(relayd);
  ASSERT_NE(port, 0);

  const std::vector<std::string> payloads{make_payload(0, 16384 - 80 - 4), make_payload(1, 16384 + 80 - 4)};
  TlsClient client(port, trusting(pki));
  ASSERT_TRUE(client.handshake_ok()) << client.error();
  ASSERT_TRUE(client.send_all(frames_of(payloads)));  // one SSL_write: two records of 16 KiB
  EXPECT_TRUE(sink.wait_for_count(2, 5s)) << sink.count() << " of 2 while the client stays connected";
  EXPECT_EQ(sink.messages(), payloads);
}

TEST_F(TlsIngestTest, MutualTlsRefusesClientsWithoutACertificateFromTheCa) {
  constexpr std::size_t kMessages = 200;
  TestPki other;  // a CA relayd does not trust for clients
  const Credential good = pki.client("good", "ingest-client");
  const Credential stranger = other.client("stranger", "stranger");
  RelaydProcess relayd(relayd_args(tls_listener(server, pki.ca_path()), {destination(sink.port())}));
  const std::uint16_t port = started(relayd);
  ASSERT_NE(port, 0);

  const auto refused = mixed_payloads(1000000, 10);
  {
    TlsClient anonymous(port, trusting(pki));
    // TLS 1.3: the client's side of the handshake may finish before relayd's verdict.
    (void)anonymous.send_all(frames_of(refused));
    EXPECT_TRUE(anonymous.wait_closed_by_peer(10s)) << "a client without a certificate was kept";
  }
  const auto logged = [&](const std::string& reason) { return relayd.log_text().find(reason) != std::string::npos; };
  ASSERT_TRUE(wait_until([&] { return logged("peer did not return a certificate"); }, 10s)) << relayd.log_text();
  // Failures are logged at most once a second: strangers keep trying until one is.
  std::size_t strangers = 0;
  const bool named = wait_until(
      [&] {
        TlsClient wrong_ca(port, trusting(pki, &stranger));
        ++strangers;
        (void)wrong_ca.send_all(frames_of(refused));
        EXPECT_TRUE(wrong_ca.wait_closed_by_peer(10s)) << "a client with another CA's certificate was kept";
        return logged("certificate verify failed");
      },
      10s);
  ASSERT_TRUE(named) << relayd.log_text();
  const auto payloads = mixed_payloads(0, kMessages);
  {
    TlsClient client(port, trusting(pki, &good));
    ASSERT_TRUE(client.handshake_ok()) << client.error();
    ASSERT_TRUE(send_in_pieces(client, frames_of(payloads)));
    ASSERT_TRUE(sink.wait_for_count(kMessages, 20s)) << sink.count() << " of " << kMessages;
  }
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  EXPECT_EQ(sink.messages(), payloads) << "only the certified client's frames may arrive";
  const auto l = relayd.stats().listener(port);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->u("tls_handshake_failures"), 1 + strangers);
  EXPECT_EQ(l->u("connections_accepted"), 2 + strangers);
  EXPECT_EQ(l->u("received_messages"), kMessages);
  if (strangers > 2) {
    EXPECT_LT(handshake_failure_lines(relayd), 1 + strangers) << "not rate-limited";
  }
}

TEST_F(TlsIngestTest, PlaintextAndGarbageAreCountedAndLeaveOtherClientsAlone) {
  constexpr std::size_t kHalf = 500;
  RelaydProcess relayd(relayd_args(tls_listener(server), {destination(sink.port())}));
  const std::uint16_t port = started(relayd);
  ASSERT_NE(port, 0);

  const auto first = mixed_payloads(0, kHalf);
  const auto second = mixed_payloads(kHalf, kHalf);
  TlsClient good(port, trusting(pki));  // connected before the faults: must survive them
  ASSERT_TRUE(good.handshake_ok()) << good.error();
  ASSERT_TRUE(send_in_pieces(good, frames_of(first)));
  ASSERT_TRUE(sink.wait_for_count(kHalf, 20s)) << sink.count() << " of " << kHalf;

  TcpClient plaintext(port);  // lp32le frames, as to a tcp@ listener
  (void)plaintext.send_all(frames_of(mixed_payloads(2000000, 20)));
  EXPECT_TRUE(plaintext.wait_closed_by_peer(10s)) << "relayd kept a plaintext client";
  TcpClient garbage(port);
  std::string noise;
  for (int i = 0; i < 4096; ++i) noise.push_back(static_cast<char>((i * 131 + 7) % 256));
  (void)garbage.send_all(noise);
  EXPECT_TRUE(garbage.wait_closed_by_peer(10s)) << "relayd kept a client sending garbage";
  ASSERT_TRUE(wait_until([&] { return handshake_failure_lines(relayd) >= 1; }, 10s)) << relayd.log_text();

  ASSERT_TRUE(send_in_pieces(good, frames_of(second)));
  ASSERT_TRUE(sink.wait_for_count(2 * kHalf, 20s)) << sink.count() << " of " << 2 * kHalf;
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  auto expected = first;
  expected.insert(expected.end(), second.begin(), second.end());
  EXPECT_EQ(sink.messages(), expected);
  const auto stats = relayd.stats();
  expect_exit_report_adds_up(stats, {{port, 2 * kHalf}});
  const auto l = stats.listener(port);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->u("tls_handshake_failures"), 2u);
  EXPECT_EQ(l->u("connections_accepted"), 3u);
  EXPECT_EQ(l->u("dropped_partial_frames"), 0u) << "a failed handshake began no frame";
  EXPECT_EQ(l->u("received_messages"), 2 * kHalf);
}

// The limits are the tcp@ listener's: a frame over --max-message-size closes that connection,
// a frame cut by the connection's end is counted, and the memory follows what arrives.
TEST_F(TlsIngestTest, OversizedAndCutFramesAreCountedAsOverTcp) {
  constexpr std::size_t kMax = 4096;
  RelaydProcess relayd(
      relayd_args(tls_listener(server), {destination(sink.port())}, {"--max-message-size", std::to_string(kMax)}));
  const std::uint16_t port = started(relayd);
  ASSERT_NE(port, 0);

  const std::string ok = encode(Framing::lp32le, make_payload(0, 100));
  {
    TlsClient oversized(port, trusting(pki));
    ASSERT_TRUE(oversized.handshake_ok()) << oversized.error();
    ASSERT_TRUE(oversized.send_all(ok));
    (void)oversized.send_all(encode(Framing::lp32le, make_payload(1, kMax + 1)));
    EXPECT_TRUE(oversized.wait_closed_by_peer(10s)) << "relayd kept the connection with the oversized frame";
  }
  {
    TlsClient cut(port, trusting(pki));
    ASSERT_TRUE(cut.handshake_ok()) << cut.error();
    const std::string frame = encode(Framing::lp32le, make_payload(2, 200));
    ASSERT_TRUE(cut.send_all(ok + frame.substr(0, frame.size() / 2)));
    ASSERT_TRUE(sink.wait_for_count(2, 10s)) << sink.count();
  }  // closed in the middle of a frame
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  const auto stats = relayd.stats();
  expect_exit_report_adds_up(stats, {{port, 4}});  // 2 whole, 1 oversized, 1 cut
  const auto l = stats.listener(port);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->u("received_messages"), 2u);
  EXPECT_EQ(l->u("connections_closed_bad_frame"), 1u);
  EXPECT_EQ(l->u("dropped_oversized"), 1u);
  EXPECT_EQ(l->u("dropped_partial_frames"), 1u);
  EXPECT_EQ(l->u("tls_handshake_failures"), 0u);
  EXPECT_EQ(l->u("receive_errors"), 0u);
}

// --max-connections counts connections still shaking hands; --ingest-idle-timeout closes one
// that never starts its handshake.
TEST_F(TlsIngestTest, ConnectionLimitAndIdleTimeoutHoldAsOverTcp) {
  RelaydProcess relayd(relayd_args(tls_listener(server), {destination(sink.port())},
                                   {"--max-connections", "1", "--ingest-idle-timeout", "1"}));
  const std::uint16_t port = started(relayd);
  ASSERT_NE(port, 0);

  {
    TlsClient occupant(port, trusting(pki));  // its handshake proves it holds the only slot
    ASSERT_TRUE(occupant.handshake_ok()) << occupant.error();
    TlsClient refused(port, trusting(pki));
    EXPECT_FALSE(refused.handshake_ok()) << "a connection over --max-connections was served";
    EXPECT_TRUE(occupant.wait_closed_by_peer(10s)) << "an idle session outlived --ingest-idle-timeout";
  }
  TcpClient silent(port);  // never starts a handshake
  EXPECT_TRUE(silent.wait_closed_by_peer(10s)) << "a silent connection outlived --ingest-idle-timeout";
  const auto payloads = mixed_payloads(0, 10);
  {
    TlsClient client(port, trusting(pki));
    ASSERT_TRUE(client.handshake_ok()) << client.error();
    ASSERT_TRUE(client.send_all(frames_of(payloads)));
    ASSERT_TRUE(sink.wait_for_count(payloads.size(), 10s)) << sink.count();
  }
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  EXPECT_EQ(sink.messages(), payloads);
  const auto l = relayd.stats().listener(port);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->u("connections_refused"), 1u);
  EXPECT_EQ(l->u("connections_closed_idle"), 2u);
  EXPECT_EQ(l->u("connections_accepted"), 3u);
  EXPECT_EQ(l->u("tls_handshake_failures"), 0u) << "a refused connection never reached a handshake";
}

TEST(TlsIngestStartup, BadFilesStopStartUpWithOneLineNamingThem) {
  TestPki pki;
  const Credential server = pki.server("server", {"127.0.0.1"});
  const Credential other = pki.server("other", {"127.0.0.1"});
  const std::string missing = pki.dir() + "/no-such.crt";
  const std::string not_pem = pki.write("not-pem.crt", "hello\n");
  struct Bad {
    std::string listen, file, message;
  };
  const std::vector<Bad> cases{
      {"tls@127.0.0.1:0?cert=" + missing + "&key=" + server.key_path, missing, "cert="},
      {"tls@127.0.0.1:0?cert=" + not_pem + "&key=" + server.key_path, not_pem, "no PEM certificate"},
      {"tls@127.0.0.1:0?cert=" + server.cert_path + "&key=" + other.key_path, other.key_path,
       "is not the private key of"},
      {tls_listener(server, not_pem), not_pem, "client_ca=" + not_pem + ": no PEM certificate"},
  };
  for (const Bad& bad : cases) {
    SCOPED_TRACE(bad.listen);
    TcpSink sink(Framing::lp32le);
    const auto r = RelaydProcess::run_to_completion(relayd_args(bad.listen, {destination(sink.port())}));
    EXPECT_FALSE(r.timed_out);
    EXPECT_NE(r.exit_code, 0);
    const std::string all = r.out + r.err;
    EXPECT_EQ(all.find("relayd ready"), std::string::npos) << "started anyway";
    std::size_t naming = 0;
    std::size_t start = 0;
    while (start < all.size()) {
      const std::size_t end = std::min(all.find('\n', start), all.size());
      const std::string line = all.substr(start, end - start);
      if (line.find(bad.file) != std::string::npos && line.find("listening on") == std::string::npos) {
        ++naming;
        EXPECT_NE(line.find(bad.message), std::string::npos) << line;
      }
      start = end + 1;
    }
    EXPECT_EQ(naming, 1u) << all;
  }
}

}  // namespace
}  // namespace relay::test
