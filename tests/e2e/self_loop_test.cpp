// Self-loops (issue #9 item 5): relayd refuses, at start-up and over the control API, any
// destination that reaches one of its own listening addresses — its TCP listeners (a message
// would circulate forever) and its control port (a `raw` destination there would let any UDP
// sender speak gRPC to relayd) — in every spelling: the same address, a wildcard bind matched
// by a local address, a wildcard destination, a v4-mapped IPv6 address.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "relayctl_runner.hpp"
#include "relayd_process.hpp"
#include "sockets.hpp"
#include "timeouts.hpp"

namespace relay::test {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(SelfLoopTest, StartupRefusesADestinationAtItsOwnTcpListener) {
  const std::string port = std::to_string(reserve_port());
  for (const std::string& dest : {"tcp@127.0.0.1:" + port, "tcp@[::ffff:127.0.0.1]:" + port, "tcp@0.0.0.0:" + port}) {
    SCOPED_TRACE(dest);
    const RunResult r = RelaydProcess::run_to_completion(
        {"--control", "none", "udp@127.0.0.1:0", "--listen", "tcp@127.0.0.1:" + port, dest}, 10s);
    ASSERT_FALSE(r.timed_out) << "relayd started with a destination that loops back into it";
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "relayd's own address tcp@127.0.0.1:" + port)) << r.err;
  }
}

// relayd with a wildcard TCP listener and gRPC control on loopback; relayctl pointed at it.
class SelfLoopApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    relayd_ = std::make_unique<RelaydProcess>(std::vector<std::string>{
        "--control", "127.0.0.1:0", "--stats-interval", "0", "udp@127.0.0.1:0", "--listen", "tcp@0.0.0.0:0"});
    ASSERT_TRUE(relayd_->wait_ready());
    tcp_port_ = relayd_->listen_port(1);
    ASSERT_NE(tcp_port_, 0);
    control_port_ = control_port(*relayd_);
    ASSERT_NE(control_port_, 0);
    ctl_ = std::make_unique<RelayctlRunner>(RELAYCTL_PATH, "127.0.0.1:" + std::to_string(control_port_));
  }
  void TearDown() override {
    if (!relayd_) return;
    relayd_->signal(SIGTERM);
    EXPECT_EQ(relayd_->wait_exit(20s), 0);
  }

  // `dest add ADDR` must be refused as INVALID_ARGUMENT naming the own address.
  void expect_refused(const std::string& dest, const std::string& own) {
    SCOPED_TRACE(dest);
    const RunResult r = ctl_->run({"dest", "add", dest});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_TRUE(contains(r.err, "INVALID_ARGUMENT")) << r.err;
    EXPECT_TRUE(contains(r.err, "relayd's own address " + own)) << r.err;
  }

  std::unique_ptr<RelaydProcess> relayd_;
  std::unique_ptr<RelayctlRunner> ctl_;
  std::uint16_t tcp_port_ = 0;
  std::uint16_t control_port_ = 0;
};

TEST_F(SelfLoopApiTest, RefusesItsOwnListenerInEverySpellingAndItsControlPort) {
  const std::string tcp = std::to_string(tcp_port_);
  const std::string own_listener = "tcp@0.0.0.0:" + tcp;
  expect_refused("tcp@127.0.0.1:" + tcp, own_listener);
  expect_refused("tcp@127.0.0.2:" + tcp, own_listener);  // all of 127/8 is this host
  expect_refused("tcp@[::ffff:127.0.0.1]:" + tcp, own_listener);
  expect_refused("tcp@0.0.0.0:" + tcp, own_listener);
  expect_refused("tcp@localhost:" + tcp + "?framing=raw", own_listener);
  const std::string control = std::to_string(control_port_);
  expect_refused("tcp@127.0.0.1:" + control + "?framing=raw", "tcp@127.0.0.1:" + control);
  expect_refused("tcp@0.0.0.0:" + control, "tcp@127.0.0.1:" + control);

  const RunResult ls = ctl_->run({"dest", "ls"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_TRUE(contains(ls.out, "no destinations")) << "a refused destination was added anyway: " << ls.out;
  // Another port on the same host is an ordinary destination.
  const RunResult ok = ctl_->run({"dest", "add", "tcp@127.0.0.1:" + std::to_string(reserve_port())});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

}  // namespace
}  // namespace relay::test
