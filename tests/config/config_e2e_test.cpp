// The config file end to end: the real relayd started with --config and nothing else relays a
// datagram from the file's listener to the file's destination; --check-config exits 0 with a
// summary on a good file and 2 with located errors on a bad one, and binds nothing.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include "relayd_process.hpp"
#include "sockets.hpp"
#include "tcp_sink.hpp"
#include "test_pki.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

using namespace std::chrono_literals;

std::size_t lines_of(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

// A socket on 127.0.0.1 with a kernel-chosen port, held open so nothing else can bind it.
UniqueFd bound_socket(int type) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  const SocketAddress any = make_address("127.0.0.1", 0);
  EXPECT_EQ(::bind(fd.get(), any.get(), any.len), 0);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(::listen(fd.get(), 4), 0);
  }
  return fd;
}

class ConfigE2eTest : public ::testing::Test {
 protected:
  std::string file(const std::string& text, const std::string& name = "relayd.toml") { return pki_.write(name, text); }
  TestPki pki_;  // certificates and the test's directory
};

TEST_F(ConfigE2eTest, RelaydRunsFromTheFileAlone) {
  TcpSink sink(Framing::line);
  const std::string path = file(fmt::format(R"(# the file says everything: no flag but --config
listeners = ["udp@127.0.0.1:0"]

[[destination]]
address = "tcp@127.0.0.1:{}"
framing = "line"

[control]
address = "none"

[ingest]
rcvbuf = "4MiB"
)",
                                            sink.port()));
  RelaydProcess relayd({"--config", path});
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_NE(relayd.udp_port(), 0);
  EXPECT_TRUE(relayd.wait_for_line("SO_RCVBUF requested 4 MiB", 1s).has_value()) << "ingest.rcvbuf not in force";
  UdpSender sender(relayd.udp_port());
  sender.send("hello from the config file");
  ASSERT_TRUE(sink.wait_for_count(1, 10s));
  EXPECT_EQ(sink.messages().at(0), "hello from the config file");  // line framing: the file's option
  relayd.signal(SIGTERM);
  EXPECT_EQ(relayd.wait_exit(10s), 0);
}

TEST_F(ConfigE2eTest, BadFileExitsTwoBeforeStarting) {
  const std::string path = file("[queue]\nmax_byte = \"1GiB\"\n[log]\nlevel = \"loud\"\n");
  const RunResult r = RelaydProcess::run_to_completion({"--config", path}, 10s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "relayd: " + path + ":2:1: queue.max_byte: unknown key (did you mean max_bytes?)\n");
  EXPECT_EQ(r.err.find("relayd ready"), std::string::npos);
}

// Nothing binds: the file's listeners and control port are held by the test, which would make
// a real start fail; the check still passes.
TEST_F(ConfigE2eTest, CheckConfigPassesAGoodFileAndBindsNothing) {
  const UniqueFd udp = bound_socket(SOCK_DGRAM), tcp = bound_socket(SOCK_STREAM), control = bound_socket(SOCK_STREAM);
  const auto server = pki_.server("control", {"127.0.0.1"});
  const std::string path =
      file(fmt::format(R"(listeners = ["udp@127.0.0.1:{udp}", "tcp@127.0.0.1:{tcp}"]

[[destination]]
address = "tcp@127.0.0.1:2009"

[[destination]]
address = "tcp@localhost:2010"

[[destination]]
address = "tls@127.0.0.1:6514"
ca = "{ca}"

[control]
address = "127.0.0.1:{control}"
tls_cert = "{cert}"
tls_key = "{key}"
)",
                       fmt::arg("udp", local_port(udp.get())), fmt::arg("tcp", local_port(tcp.get())),
                       fmt::arg("control", local_port(control.get())), fmt::arg("ca", pki_.ca_path()),
                       fmt::arg("cert", server.cert_path), fmt::arg("key", server.key_path)));
  const RunResult r = RelaydProcess::run_to_completion({"--check-config", path}, 10s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "relayd: " + path + " is valid: 2 listeners, 3 destinations\n");
  EXPECT_EQ(r.err, "");
  // The same file, run: the taken port fails start-up (so the check above really bound nothing).
  const RunResult run = RelaydProcess::run_to_completion({"--config", path}, 15s);
  ASSERT_FALSE(run.timed_out);
  EXPECT_EQ(run.exit_code, 1) << run.err;
}

TEST_F(ConfigE2eTest, CheckConfigRefusesABadAddress) {
  const std::string path = file(R"([control]
address = "none"

[[destination]]
address = "tcp@no-such-host.invalid:2003"
)");
  const RunResult r = RelaydProcess::run_to_completion({"--check-config", path}, 30s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(lines_of(r.err), 1u) << r.err;
  EXPECT_TRUE(r.err.starts_with("relayd: " + path + ":5:11: destination[0]: ")) << r.err;
  EXPECT_NE(r.err.find("cannot resolve host"), std::string::npos) << r.err;
}

TEST_F(ConfigE2eTest, CheckConfigRefusesAMissingCertificateFile) {
  const std::string path = file(R"([control]
tls_cert = "/no/such/cert.pem"
tls_key = "/no/such/key.pem"
)");
  const RunResult r = RelaydProcess::run_to_completion({"--check-config", path}, 10s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(lines_of(r.err), 2u) << r.err;  // both files named, each with its place
  EXPECT_TRUE(r.err.starts_with("relayd: " + path + ":2:12: control.tls_cert: ")) << r.err;
  EXPECT_NE(r.err.find(path + ":3:11: control.tls_key: "), std::string::npos) << r.err;

  const std::string dest = file(R"([control]
address = "none"

[[destination]]
address = "tls@127.0.0.1:6514"
ca = "/no/such/ca.pem"
)",
                                "dest.toml");
  const RunResult d = RelaydProcess::run_to_completion({"--check-config", dest}, 10s);
  ASSERT_FALSE(d.timed_out);
  EXPECT_EQ(d.exit_code, 2) << d.err;
  EXPECT_TRUE(d.err.starts_with("relayd: " + dest + ":5:11: destination[0]: ")) << d.err;
  EXPECT_NE(d.err.find("/no/such/ca.pem"), std::string::npos) << d.err;
}

// A certificate file that exists but is not a certificate: only reading it finds that.
TEST_F(ConfigE2eTest, CheckConfigReadsTheControlCertificates) {
  const auto server = pki_.server("control", {"127.0.0.1"});
  const std::string garbage = pki_.write("garbage.pem", "not a certificate\n");
  const std::string path =
      file(fmt::format("[control]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n", garbage, server.key_path));
  const RunResult r = RelaydProcess::run_to_completion({"--check-config", path}, 10s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(r.err.starts_with("relayd: " + path + ": control: ")) << r.err;
}

TEST_F(ConfigE2eTest, CheckConfigOfAMissingFile) {
  const RunResult r = RelaydProcess::run_to_completion({"--check-config", pki_.dir() + "/absent.toml"}, 10s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("absent.toml: cannot read the config file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace relay::test
