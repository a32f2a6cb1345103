// The control plane's security end to end: the real relayd and relayctl, certificates made at
// test time by `relayd certs init` (and, for the broken ones, by relay_certs), real TLS over
// loopback. What must hold: TLS verifies the right server and refuses the wrong ones; mutual TLS
// refuses clients without a certificate the CA signed; tokens give roles; every change is
// audited with who made it; a non-loopback plaintext control port is refused; a unix socket is
// private; certificates rotate under a live WatchStats stream.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "certs_init.hpp"
#include "pem_file.hpp"
#include "relayctl_runner.hpp"
#include "relayd_process.hpp"
#include "sockets.hpp"
#include "subprocess.hpp"
#include "tcp_sink.hpp"
#include "temp_dir.hpp"
#include "timeouts.hpp"
#include "token_hash.hpp"
#include "x509_issue.hpp"

namespace relay::test {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// `relayd certs init DIR --host ...` through the real binary.
void certs_init(const std::string& dir, std::vector<std::string> hosts, const std::string& client = "relayctl") {
  std::vector<std::string> args{"certs", "init", dir, "--client-name", client};
  for (auto& h : hosts) {
    args.push_back("--host");
    args.push_back(h);
  }
  const RunResult r = RelaydProcess::run_to_completion(args);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
}

class SecurityE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_init(dir("a"), {"127.0.0.1", "localhost"});
    certs_init(dir("other"), {"127.0.0.1"});  // a second CA nobody trusts
  }

  std::string dir(const std::string& name) const { return tmp_ / name; }
  std::string file(const std::string& d, const char* name) const { return (fs::path(dir(d)) / name).string(); }

  std::vector<std::string> tls_server(const std::string& d = "a") const {
    return {"--control-tls-cert", file(d, certs::kServerCert), "--control-tls-key", file(d, certs::kServerKey)};
  }
  std::vector<std::string> mtls_server(const std::string& d = "a") const {
    auto args = tls_server(d);
    args.insert(args.end(), {"--control-tls-client-ca", file(d, certs::kCaCert)});
    return args;
  }
  std::vector<std::string> tls_client(const std::string& d = "a") const {
    return {"--tls-ca", file(d, certs::kCaCert)};
  }
  std::vector<std::string> mtls_client(const std::string& ca = "a", const std::string& client = "a") const {
    return {"--tls-ca",  file(ca, certs::kCaCert),       "--tls-cert", file(client, certs::kClientCert),
            "--tls-key", file(client, certs::kClientKey)};
  }

  // relayd with control on a kernel-chosen loopback port and `extra` flags.
  void start(std::vector<std::string> extra, const std::string& control = "127.0.0.1:0") {
    std::vector<std::string> args{"--control", control, "--stats-interval", "0", "--log-level", "info"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("udp@127.0.0.1:0");
    relayd_ = std::make_unique<RelaydProcess>(args);
    ASSERT_TRUE(relayd_->wait_ready());
    if (!control.starts_with("unix:")) {
      port_ = control_port(*relayd_);
      ASSERT_NE(port_, 0);
    }
    server_ = control.starts_with("unix:") ? control : "127.0.0.1:" + std::to_string(port_);
  }

  RunResult ctl(std::vector<std::string> flags, const std::vector<std::string>& args) {
    flags.insert(flags.begin(), {"--server", server_, "--timeout", "5s"});
    flags.insert(flags.end(), args.begin(), args.end());
    return RelayctlRunner(RELAYCTL_PATH, "").run_raw(flags);
  }

  std::string token_line(const std::string& name, const std::string& role, const std::string& token) {
    return name + " " + role + " " + certs::token_hash_text(certs::hash_token(token)) + "\n";
  }
  std::string token_file(const std::string& token) {
    const std::string path = tmp_ / ("token-" + std::to_string(++tokens_));
    write_file(path, token + "\n");
    return path;
  }

  TempDir tmp_;
  std::unique_ptr<RelaydProcess> relayd_;
  std::uint16_t port_ = 0;
  std::string server_;
  int tokens_ = 0;
};

TEST_F(SecurityE2eTest, TlsServesTheRightCaAndRefusesTheWrongOneInOneLine) {
  start(tls_server());
  EXPECT_TRUE(relayd_->wait_for_line("control: TLS certificate .*server.crt loaded: subject CN=127.0.0.1", 5s));
  const RunResult ok = ctl(tls_client(), {"info"});
  ASSERT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_TRUE(contains(ok.out, "control_security")) << ok.out;
  EXPECT_TRUE(contains(ok.out, "tls")) << ok.out;

  const RunResult wrong_ca = ctl(tls_client("other"), {"info"});
  EXPECT_EQ(wrong_ca.exit_code, 3) << describe(wrong_ca);
  EXPECT_TRUE(contains(wrong_ca.err, "TLS handshake with relayd at " + server_ +
                                         " failed: relayd's certificate did "
                                         "not verify"))
      << wrong_ca.err;
  EXPECT_EQ(std::count(wrong_ca.err.begin(), wrong_ca.err.end(), '\n'), 1) << wrong_ca.err;

  const RunResult plaintext = ctl({}, {"info"});
  EXPECT_EQ(plaintext.exit_code, 3) << describe(plaintext);
}

TEST_F(SecurityE2eTest, NameMismatchAndExpiredCertificateAreRefused) {
  certs_init(dir("elsewhere"), {"relay.example"});
  start(tls_server("elsewhere"));
  const RunResult mismatch = ctl(tls_client("elsewhere"), {"info"});
  EXPECT_EQ(mismatch.exit_code, 3) << describe(mismatch);
  EXPECT_TRUE(contains(mismatch.err, "TLS handshake")) << mismatch.err;
  // The same server is fine once the client checks the name the certificate carries.
  auto named = tls_client("elsewhere");
  named.insert(named.end(), {"--tls-server-name", "relay.example"});
  EXPECT_EQ(ctl(named, {"info"}).exit_code, 0);
  relayd_->signal(SIGTERM);
  EXPECT_EQ(relayd_->wait_exit(10s), 0);

  // An expired leaf signed by a trusted CA: relayd says so at start, clients refuse it.
  const auto ca_key = certs::parse_key(certs::read_small_file(file("a", certs::kCaKey)));
  const auto ca_cert = certs::parse_cert(certs::read_small_file(file("a", certs::kCaCert)));
  const auto key = certs::make_key();
  const auto expired = certs::issue(certs::Usage::server, {"127.0.0.1", {"127.0.0.1"}}, key,
                                    {std::chrono::hours(-48), std::chrono::hours(-1)}, ca_cert.get(), ca_key);
  certs::write_new_private_file(tmp_ / "expired.crt", certs::cert_pem(expired));
  certs::write_new_private_file(tmp_ / "expired.key", certs::key_pem(key));
  start({"--control-tls-cert", tmp_ / "expired.crt", "--control-tls-key", tmp_ / "expired.key"});
  EXPECT_TRUE(relayd_->wait_for_line("control: TLS certificate .*expired.crt EXPIRED", 5s));
  const RunResult r = ctl(tls_client(), {"info"});
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_TRUE(contains(r.err, "did not verify")) << r.err;
}

TEST_F(SecurityE2eTest, MutualTlsNeedsAClientCertificateTheCaSigned) {
  start(mtls_server());
  const RunResult ok = ctl(mtls_client(), {"whoami"});
  ASSERT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_TRUE(contains(ok.out, "cert:CN=relayctl")) << ok.out;

  const RunResult none = ctl(tls_client(), {"info"});
  EXPECT_EQ(none.exit_code, 3) << describe(none);
  const RunResult foreign = ctl(mtls_client("a", "other"), {"info"});
  EXPECT_EQ(foreign.exit_code, 3) << describe(foreign);
  EXPECT_TRUE(relayd_->running());
}

TEST_F(SecurityE2eTest, TokensGiveRolesAndEveryChangeIsAudited) {
  const std::string tokens = tmp_ / "tokens.conf";
  write_file(tokens, token_line("dash", "read", "read-secret") + token_line("ops", "admin", "admin-secret"));
  start({"--control-token-file", tokens});
  TcpSink sink;
  const std::string dest = "tcp@127.0.0.1:" + std::to_string(sink.port());

  const RunResult none = ctl({}, {"info"});
  EXPECT_EQ(none.exit_code, 4) << describe(none);
  EXPECT_TRUE(contains(none.err, "UNAUTHENTICATED")) << none.err;
  const RunResult wrong = ctl({"--token-file", token_file("guess")}, {"info"});
  EXPECT_EQ(wrong.exit_code, 4) << describe(wrong);

  const std::string reader = token_file("read-secret");
  const RunResult look = ctl({"--token-file", reader}, {"whoami"});
  ASSERT_EQ(look.exit_code, 0) << describe(look);
  EXPECT_TRUE(contains(look.out, "token:dash")) << look.out;
  EXPECT_TRUE(contains(look.out, "read")) << look.out;
  const RunResult change = ctl({"--token-file", reader}, {"dest", "add", dest});
  EXPECT_EQ(change.exit_code, 4) << describe(change);
  EXPECT_TRUE(contains(change.err, "PERMISSION_DENIED")) << change.err;
  EXPECT_TRUE(relayd_->wait_for_line("audit: token:dash from ipv4:127.0.0.1:[0-9]+: AddDestination " +
                                         std::regex_replace(dest, std::regex(R"([.])"), R"(\.)") +
                                         " -> PERMISSION_DENIED",
                                     5s));

  const std::string admin = token_file("admin-secret");
  const RunResult add = ctl({"--token-file", admin}, {"dest", "add", dest});
  ASSERT_EQ(add.exit_code, 0) << describe(add);
  EXPECT_TRUE(relayd_->wait_for_line("audit: token:ops from ipv4:127.0.0.1:[0-9]+: AddDestination .* -> OK", 5s));
  const RunResult rm = ctl({"--token-file", admin}, {"dest", "rm", dest});
  ASSERT_EQ(rm.exit_code, 0) << describe(rm);
  EXPECT_TRUE(relayd_->wait_for_line("audit: token:ops from .*: RemoveDestination .* -> OK", 5s));

  // Load balancers probe health without credentials.
  const RunResult health = ctl({}, {"health"});
  EXPECT_EQ(health.exit_code, 0) << describe(health);
}

TEST_F(SecurityE2eTest, ATokenFileChangeTakesEffectAndABrokenOneIsRefusedWhole) {
  const std::string tokens = tmp_ / "tokens.conf";
  write_file(tokens, token_line("ops", "admin", "first"));
  start({"--control-token-file", tokens});
  const std::string first = token_file("first");
  const std::string second = token_file("second");
  ASSERT_EQ(ctl({"--token-file", first}, {"info"}).exit_code, 0);
  EXPECT_EQ(ctl({"--token-file", second}, {"info"}).exit_code, 4);

  write_file(tokens + ".new", token_line("ops", "admin", "second"));
  fs::rename(tokens + ".new", tokens);
  EXPECT_TRUE(wait_until([&] { return ctl({"--token-file", second}, {"info"}).exit_code == 0; }, 10s));
  EXPECT_EQ(ctl({"--token-file", first}, {"info"}).exit_code, 4);

  write_file(tokens + ".new", "ops boss sha256:nothex\n");
  fs::rename(tokens + ".new", tokens);
  EXPECT_TRUE(
      relayd_->wait_for_line("control: token file refused, the previous one stays in force: .*tokens.conf:1", 10s));
  EXPECT_EQ(ctl({"--token-file", second}, {"info"}).exit_code, 0);
}

TEST_F(SecurityE2eTest, NonLoopbackPlaintextControlIsRefusedUnlessInsecureIsSaid) {
  const RunResult refused =
      RelaydProcess::run_to_completion({"--control", "0.0.0.0:0", "--stats-interval", "0", "udp@127.0.0.1:0"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(contains(refused.out + refused.err, "without TLS")) << describe(refused);

  start({"--control-insecure"}, "0.0.0.0:0");
  EXPECT_TRUE(relayd_->wait_for_line("control: serving .* without TLS \\(--control-insecure\\)", 5s));
  EXPECT_EQ(ctl({}, {"info"}).exit_code, 0);

  // With TLS a wildcard address is fine and needs no flag.
  relayd_->signal(SIGTERM);
  ASSERT_EQ(relayd_->wait_exit(10s), 0);
  start(tls_server(), "0.0.0.0:0");
  EXPECT_EQ(ctl(tls_client(), {"info"}).exit_code, 0);
}

TEST_F(SecurityE2eTest, UnixSocketIsPrivateWhateverTheUmask) {
  const std::string sock = tmp_ / "control.sock";
  ::umask(0);  // relayd inherits it: the socket's mode must not follow it
  start({}, "unix:" + sock);
  ::umask(022);
  struct stat st {};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const RunResult who = ctl({}, {"whoami"});
  ASSERT_EQ(who.exit_code, 0) << describe(who);
  relayd_->signal(SIGTERM);
  ASSERT_EQ(relayd_->wait_exit(10s), 0);

  const std::string group_sock = tmp_ / "group.sock";
  const group* g = ::getgrgid(::getgid());
  ASSERT_NE(g, nullptr);
  start({"--control-socket-mode", "0660", "--control-socket-group", g->gr_name}, "unix:" + group_sock);
  ASSERT_EQ(::stat(group_sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, ::getgid());
}

TEST_F(SecurityE2eTest, CertificatesRotateUnderALiveWatchStream) {
  // relayd reads its pair through a directory symlink, swapped atomically as gRPC's file watcher
  // asks.
  const std::string live = tmp_ / "live";
  fs::create_directory_symlink(dir("a"), live);
  start({"--control-tls-cert", live + "/server.crt", "--control-tls-key", live + "/server.key"});
  Pipe out = make_pipe();
  const pid_t watcher = spawn_program(
      RELAYCTL_PATH,
      {"--server", server_, "--tls-ca", file("a", certs::kCaCert), "stats", "--watch", "--interval", "100ms"},
      out.write_end.get(), out.write_end.get());
  out.write_end.reset();
  ::fcntl(out.read_end.get(), F_SETFL, O_NONBLOCK);
  std::string seen;
  auto lines = [&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out.read_end.get(), buf, sizeof buf)) > 0) seen.append(buf, static_cast<std::size_t>(n));
    return std::count(seen.begin(), seen.end(), '\n');
  };
  ASSERT_TRUE(wait_until([&] { return lines() > 0; }, 10s)) << "the watch stream printed nothing: " << seen;

  // Rotate to the other CA's pair.
  fs::create_directory_symlink(dir("other"), live + ".new");
  fs::rename(live + ".new", live);
  EXPECT_TRUE(relayd_->wait_for_line(
      "control: TLS certificate .*server.crt loaded: subject CN=127.0.0.1, issuer CN=relayd CA", 10s));
  EXPECT_TRUE(wait_until([&] { return ctl(tls_client("other"), {"info"}).exit_code == 0; }, 15s))
      << "new connections do not get the rotated certificate";
  EXPECT_EQ(ctl(tls_client("a"), {"info"}).exit_code, 3);
  const auto before = lines();
  EXPECT_TRUE(wait_until([&] { return lines() > before + 3; }, 10s)) << "the watch stream stopped: " << seen;
  int status = 0;
  EXPECT_EQ(::waitpid(watcher, &status, WNOHANG), 0) << "the watch stream ended with the rotation: " << seen;
  ::kill(watcher, SIGTERM);
  ::waitpid(watcher, &status, 0);
}

}  // namespace
}  // namespace relay::test
