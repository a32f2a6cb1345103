// A fleet managed as one (issue #13): the real relayctl against three real relayd over real
// gRPC. `stats` prints one row per relay and a total that adds up what each relay counted;
// --json gives one object per relay; --fleet FILE names the relays; a relay that is down fails
// the command with exit status 3 naming it while the others still answer; `dest add` to a fleet
// with one relay down adds it everywhere else and reports where it did not.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <sstream>

#include "payload.hpp"
#include "relay/v1/relay.pb.h"
#include "relayctl_runner.hpp"
#include "relayd_process.hpp"
#include "sockets.hpp"
#include "tcp_sink.hpp"
#include "temp_dir.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

namespace pb = relay::v1;

struct Member {
  TcpSink sink;
  std::unique_ptr<RelaydProcess> relayd;
  std::string control;  // 127.0.0.1:PORT
};

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto& m : members_) {
      m.relayd = std::make_unique<RelaydProcess>(
          std::vector<std::string>{"--control", "127.0.0.1:0", "--stats-interval", "0", "udp@127.0.0.1:0",
                                   "tcp@127.0.0.1:" + std::to_string(m.sink.port())});
      ASSERT_TRUE(m.relayd->wait_ready());
      m.control = "127.0.0.1:" + std::to_string(control_port(*m.relayd));
    }
  }

  // Member i gets `n` messages, all delivered.
  void feed(std::size_t i, std::size_t n) {
    UdpSender sender(members_[i].relayd->udp_port());
    auto& sink = members_[i].sink;
    ASSERT_TRUE(sender.send_paced(make_payloads(0, n, 100), [&] { return sink.count(); }));
    ASSERT_TRUE(sink.wait_for_count(n, 10s));
  }

  std::string servers() const { return members_[0].control + "," + members_[1].control + "," + members_[2].control; }
  RunResult ctl(const std::vector<std::string>& args) const { return RelayctlRunner(RELAYCTL_PATH, "").run_raw(args); }

  Member members_[3];
};

// The row of `table` whose first cell is `first`, split on blanks.
std::vector<std::string> row(const std::string& table, const std::string& first) {
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream cells(line);
    std::vector<std::string> out;
    for (std::string c; cells >> c;) out.push_back(c);
    if (!out.empty() && out[0] == first) return out;
  }
  return {};
}

TEST_F(FleetTest, StatsPrintsARowPerRelayAndATotalThatAddsUp) {
  feed(0, 100);
  feed(1, 200);
  feed(2, 300);
  // sent_messages counts acknowledgements, which may trail the sink by a few ms: wait for the total.
  RunResult r;
  ASSERT_TRUE(wait_until(
      [&] {
        r = ctl({"--server", servers(), "stats"});
        const auto total = row(r.out, "TOTAL");
        return r.exit_code == 0 && total.size() >= 3 && total[2] == "600";
      },
      10s))
      << describe(r);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto cells = row(r.out, members_[i].control);
    ASSERT_GE(cells.size(), 7u) << r.out;
    EXPECT_EQ(cells[1], std::to_string(100 * (i + 1))) << "received, " << r.out;
    EXPECT_EQ(cells[6], "ok");
  }
  const auto total = row(r.out, "TOTAL");
  EXPECT_EQ(total[1], "600") << r.out;
  EXPECT_EQ(total[3], "0") << "dropped, " << r.out;
  EXPECT_EQ(total[5], "3") << "destinations, " << r.out;
}

TEST_F(FleetTest, JsonGivesOneObjectPerRelay) {
  feed(1, 50);
  const RunResult r = ctl({"--server", servers(), "--json", "stats"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::istringstream lines(r.out);
  std::size_t n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    // {"server":"...","exit_code":0,"result":{...Stats...}}: the result parses as a Stats.
    const auto at = line.find("\"result\":");
    ASSERT_NE(at, std::string::npos) << line;
    pb::Stats stats;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line.substr(at + 9, line.size() - at - 10), &stats).ok())
        << line;
    EXPECT_NE(line.find(members_[n].control), std::string::npos) << "in target order: " << line;
    EXPECT_EQ(stats.received().received_messages(), n == 1 ? 50u : 0u);
  }
  EXPECT_EQ(n, 3u);
}

TEST_F(FleetTest, AFleetFileNamesTheRelays) {
  TempDir dir("fleet");
  write_file(dir / "fleet",
             "# the relays of rack 1\n" + members_[0].control + "\n\n" + members_[2].control + "  # b\n");
  const RunResult r = ctl({"--fleet", dir / "fleet", "stats"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_FALSE(row(r.out, members_[0].control).empty());
  EXPECT_TRUE(row(r.out, members_[1].control).empty()) << "not in the file: " << r.out;
  EXPECT_FALSE(row(r.out, members_[2].control).empty());
  EXPECT_EQ(row(r.out, "TOTAL").back(), "ok") << r.out;  // "2/2 ok"
}

TEST_F(FleetTest, ARelayDownFailsTheCommandNamingItAndTheOthersStillAnswer) {
  members_[1].relayd->signal(SIGKILL);
  ASSERT_EQ(members_[1].relayd->wait_exit(10s), 128 + SIGKILL);
  const RunResult r = ctl({"--server", servers(), "--timeout", "2s", "stats"});
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_EQ(row(r.out, members_[1].control).back(), "FAILED") << r.out;
  EXPECT_EQ(row(r.out, members_[0].control).back(), "ok") << r.out;
  EXPECT_NE(r.err.find("failed on 1 of 3 relays: " + members_[1].control), std::string::npos) << r.err;
}

TEST_F(FleetTest, DestAddToAFleetReportsWhereItWasAddedAndWhereNot) {
  TcpSink extra;
  members_[2].relayd->signal(SIGKILL);
  ASSERT_EQ(members_[2].relayd->wait_exit(10s), 128 + SIGKILL);
  const std::string address = "tcp@127.0.0.1:" + std::to_string(extra.port());
  const RunResult r = ctl({"--server", servers(), "--timeout", "2s", "dest", "add", address});
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_NE(r.out.find("== " + members_[0].control + " ==\ndestination 2 added: " + address), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("== " + members_[2].control + " (FAILED) =="), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("dest add failed on 1 of 3 relays: " + members_[2].control), std::string::npos) << r.err;
  // Where it said so, the destination is there.
  for (std::size_t i : {0, 1}) {
    const RunResult ls = ctl({"--server", members_[i].control, "dest", "ls"});
    EXPECT_NE(ls.out.find(address), std::string::npos) << members_[i].control << ": " << ls.out;
  }
}

TEST_F(FleetTest, WatchTakesOneRelay) {
  const RunResult r = ctl({"--server", servers(), "stats", "--watch"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("takes one relay"), std::string::npos) << r.err;
}

// Several relayd on one host share a UDP port (?reuseport=1), each with its own queue: the kernel
// spreads senders over them, and the fleet's total counts every message once.
TEST(ReuseportFleetTest, TwoRelaydShareAUdpPortAndTheFleetTotalCountsEveryMessage) {
  const std::string listen = "udp@127.0.0.1:" + std::to_string(reserve_port()) + "?reuseport=1";
  TcpSink sinks[2];
  std::unique_ptr<RelaydProcess> relayd[2];
  std::string controls;
  for (int i = 0; i < 2; ++i) {
    relayd[i] = std::make_unique<RelaydProcess>(
        std::vector<std::string>{"--control", "127.0.0.1:0", "--stats-interval", "0", listen,
                                 "tcp@127.0.0.1:" + std::to_string(sinks[i].port())});
    ASSERT_TRUE(relayd[i]->wait_ready());
    controls += (i == 0 ? "" : ",") + ("127.0.0.1:" + std::to_string(control_port(*relayd[i])));
  }
  // Without the option the port is taken, as always.
  const std::string plain = listen.substr(0, listen.find('?'));
  const RunResult taken = RelaydProcess::run_to_completion({"--control", "none", plain});
  EXPECT_EQ(taken.exit_code, 1) << taken.out << taken.err;
  EXPECT_NE((taken.out + taken.err).find("Address already in use"), std::string::npos) << taken.out << taken.err;

  // 32 senders, each from its own port: the kernel's hash of the sender picks the relayd.
  constexpr std::size_t kSenders = 32, kEach = 50;
  const auto delivered = [&] { return sinks[0].count() + sinks[1].count(); };
  for (std::size_t s = 0; s < kSenders; ++s) {
    UdpSender sender(relayd[0]->udp_port());
    for (std::size_t i = 0; i < kEach; ++i) sender.send(make_payload(s * kEach + i, 100));
    ASSERT_TRUE(wait_until([&] { return delivered() == (s + 1) * kEach; }, 10s)) << delivered();
  }
  EXPECT_GT(sinks[0].count(), 0u) << "the kernel gave every sender to one relayd";
  EXPECT_GT(sinks[1].count(), 0u) << "the kernel gave every sender to one relayd";

  RunResult r;
  ASSERT_TRUE(wait_until(
      [&] {
        r = RelayctlRunner(RELAYCTL_PATH, "").run_raw({"--server", controls, "stats"});
        const auto total = row(r.out, "TOTAL");
        return r.exit_code == 0 && total.size() >= 3 && total[1] == std::to_string(kSenders * kEach) &&
               total[2] == total[1];
      },
      10s))
      << describe(r);
}

}  // namespace
}  // namespace relay::test
