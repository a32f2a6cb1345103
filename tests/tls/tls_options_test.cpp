// TLS options: a tls@ destination whose options or files are wrong is refused with a message
// naming what is wrong — at start-up (relayd exits non-zero) and through the API
// (INVALID_ARGUMENT), when the destination is added, not later on the data path.
#include <gtest/gtest.h>
#include <signal.h>

#include "relay_args.hpp"
#include "relayctl_runner.hpp"
#include "relayd_process.hpp"
#include "test_pki.hpp"
#include "timeouts.hpp"

namespace relay::test {
namespace {

struct Bad {
  std::string what;
  std::string options;  // after "tls@127.0.0.1:9?"
  std::string message;  // expected in relayd's output
};

std::vector<Bad> bad_options(const TestPki& pki, const Credential& a, const Credential& b) {
  return {
      {"missing CA file", "ca=" + pki.dir() + "/missing.pem", pki.dir() + "/missing.pem"},
      {"CA file without a certificate", "ca=" + a.key_path, "no PEM certificate in the file"},
      {"key not matching the certificate", "ca=" + pki.ca_path() + "&cert=" + a.cert_path + "&key=" + b.key_path,
       "is not the private key of cert="},
      {"missing key file", "cert=" + a.cert_path + "&key=" + pki.dir() + "/nokey.pem", pki.dir() + "/nokey.pem"},
      {"relative path", "ca=ca.pem", "ca= needs an absolute path"},
      {"unknown option", "colour=blue", "unknown option \"colour=blue\""},
      {"certificate without key", "cert=" + a.cert_path, "needs both cert= and key="},
  };
}

TEST(TlsOptionsTest, BadOptionsAreRefusedAtStartUp) {
  TestPki pki;
  const Credential a = pki.server("a", {"127.0.0.1"});
  const Credential b = pki.server("b", {"127.0.0.1"});
  for (const auto& bad : bad_options(pki, a, b)) {
    SCOPED_TRACE(bad.what);
    const auto r = RelaydProcess::run_to_completion(relayd_args("udp@127.0.0.1:0", {"tls@127.0.0.1:9?" + bad.options}));
    EXPECT_FALSE(r.timed_out);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE((r.out + r.err).find(bad.message), std::string::npos) << r.out << r.err;
    EXPECT_EQ((r.out + r.err).find("relayd ready"), std::string::npos) << "started anyway";
  }
}

TEST(TlsOptionsTest, BadOptionsAreRefusedByTheApi) {
  TestPki pki;
  const Credential a = pki.server("a", {"127.0.0.1"});
  const Credential b = pki.server("b", {"127.0.0.1"});
  RelaydProcess relayd({"--control", "127.0.0.1:0", "--stats-interval", "0", "udp@127.0.0.1:0"});
  ASSERT_TRUE(relayd.wait_ready());
  const std::uint16_t port = control_port(relayd);
  ASSERT_NE(port, 0);
  const RelayctlRunner ctl(RELAYCTL_PATH, "127.0.0.1:" + std::to_string(port));
  for (const auto& bad : bad_options(pki, a, b)) {
    SCOPED_TRACE(bad.what);
    const auto r = ctl.run({"dest", "add", "tls@127.0.0.1:9?" + bad.options});
    EXPECT_NE(r.exit_code, 0) << describe(r);
    EXPECT_NE((r.out + r.err).find("INVALID_ARGUMENT"), std::string::npos) << describe(r);
    EXPECT_NE((r.out + r.err).find(bad.message), std::string::npos) << describe(r);
  }
  // A good one is accepted, and verify=0 is warned about.
  const auto ok = ctl.run({"dest", "add", "tls@127.0.0.1:9?verify=0&cert=" + a.cert_path + "&key=" + a.key_path});
  EXPECT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_TRUE(relayd.wait_for_line("TLS certificate verification is off \\(verify=0\\)", 10s));
  const auto list = ctl.run({"dest", "ls"});
  EXPECT_NE(list.out.find("tls@127.0.0.1:9?cert="), std::string::npos) << describe(list);
  relayd.signal(SIGTERM);
  EXPECT_EQ(relayd.wait_exit(20s), 0);
}

}  // namespace
}  // namespace relay::test
