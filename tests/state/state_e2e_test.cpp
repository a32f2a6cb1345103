// Runtime changes that last (docs/STATE.md), end to end: the real relayd and relayctl over real
// gRPC with real TCP sinks. A destination added through the API comes back after SIGKILL and a
// restart on the same --state-dir (origin api) and receives datagrams; a configuration's
// destination removed through the API stays removed; a damaged state file stops start-up
// naming it, --reset-state starts with the configuration only; a state directory that cannot be
// written makes the add fail with a clear error and leaves nothing behind.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "relay/v1/relay.pb.h"
#include "relayctl_runner.hpp"
#include "relayd_process.hpp"
#include "sequence_check.hpp"
#include "sockets.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

namespace pb = relay::v1;
namespace fs = std::filesystem;

std::string sink_address(const TcpSink& s) { return "tcp@127.0.0.1:" + std::to_string(s.port()); }

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class StateE2eTest : public ::testing::Test {
 protected:
  StateE2eTest() {
    std::string tmpl = (fs::temp_directory_path() / "relay-state-e2e-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
    dir_ = root_ + "/state";  // relayd creates it
  }
  ~StateE2eTest() override {
    ::chmod(dir_.c_str(), 0700);
    fs::remove_all(root_);
  }

  std::vector<std::string> args(const std::vector<std::string>& dests, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> a{"--control",       "127.0.0.1:0", "--stats-interval", "0", "--reconnect-min", "0.05",
                               "--reconnect-max", "0.2",         "--state-dir",      dir_};
    a.insert(a.end(), extra.begin(), extra.end());
    a.push_back("udp@127.0.0.1:0");
    a.insert(a.end(), dests.begin(), dests.end());
    return a;
  }

  void start(const std::vector<std::string>& dests, const std::vector<std::string>& extra = {}) {
    relayd_ = std::make_unique<RelaydProcess>(args(dests, extra));
    ASSERT_TRUE(relayd_->wait_ready());
    const std::uint16_t port = control_port(*relayd_);
    ASSERT_NE(port, 0);
    ctl_ = std::make_unique<RelayctlRunner>(RELAYCTL_PATH, "127.0.0.1:" + std::to_string(port));
  }

  void kill_relayd() {
    relayd_->signal(SIGKILL);
    EXPECT_EQ(relayd_->wait_exit(10s), 128 + SIGKILL);
    relayd_.reset();
  }

  RunResult ctl(const std::vector<std::string>& a) { return ctl_->run(a); }

  std::vector<pb::Destination> list() {
    const RunResult r = ctl({"--json", "dest", "ls"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    pb::ListDestinationsResponse resp;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &resp).ok()) << r.out;
    return {resp.destinations().begin(), resp.destinations().end()};
  }

  // The listed destination at `address`, or nullptr.
  static const pb::Destination* find(const std::vector<pb::Destination>& all, const std::string& address) {
    for (const auto& d : all)
      if (d.address() == address) return &d;
    return nullptr;
  }

  // Every one of n datagrams reaches `sink`.
  void expect_delivery(TcpSink& sink, std::size_t n) {
    ASSERT_TRUE(sink.wait_for_connections(1, 10s));
    UdpSender sender(relayd_->udp_port());
    std::vector<std::string> payloads;
    for (std::size_t i = 0; i < n; ++i) payloads.push_back("state-" + std::to_string(i));
    const std::size_t before = sink.count();
    ASSERT_TRUE(sender.send_paced(payloads, [&] { return sink.count() - before; }));
    EXPECT_TRUE(sink.wait_for_count(before + n, 10s)) << sink.count();
  }

  std::string state_file() const { return dir_ + "/destinations.state"; }

  std::string root_, dir_;
  std::unique_ptr<RelaydProcess> relayd_;
  std::unique_ptr<RelayctlRunner> ctl_;
};

TEST_F(StateE2eTest, AddedDestinationComesBackAfterSigkill) {
  TcpSink configured, added(Framing::line);
  start({sink_address(configured)});
  const std::string address = sink_address(added) + "?framing=line";
  const RunResult r = ctl({"dest", "add", address});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto all = list();
  ASSERT_NE(find(all, address), nullptr);
  EXPECT_EQ(find(all, address)->origin(), pb::ORIGIN_API);
  EXPECT_EQ(find(all, sink_address(configured))->origin(), pb::ORIGIN_CONFIG);
  EXPECT_TRUE(contains(ctl({"dest", "ls"}).out, "ORIGIN")) << "no origin column";
  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(state_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  kill_relayd();  // no shutdown path runs: only what was on disk when the call answered counts
  start({sink_address(configured)});
  all = list();
  ASSERT_EQ(all.size(), 2u);
  ASSERT_NE(find(all, address), nullptr) << "the added destination did not come back";
  EXPECT_EQ(find(all, address)->origin(), pb::ORIGIN_API);
  EXPECT_EQ(find(all, address)->framing(), pb::FRAMING_LINE);
  EXPECT_TRUE(relayd_->wait_for_line("restored from the state file", 5s));
  expect_delivery(added, 200);
  expect_delivery(configured, 50);
}

// With --data-dir too (issue #12): a destination added through the API, down while messages
// arrive, gets every one of them after relayd is SIGKILLed and restarted, although its position
// was never recorded (the positions file is from the run before, which did not have it).
TEST_F(StateE2eTest, AnAddedDestinationKeepsItsBacklogAcrossSigkill) {
  TcpSink live;
  TcpSink::Options down;
  down.port = reserve_port();
  down.start = false;
  TcpSink late(down);
  const std::string data = root_ + "/data";
  start({sink_address(live)}, {"--data-dir", data});
  relayd_->signal(SIGTERM);  // records the positions: the live destination's only
  ASSERT_EQ(relayd_->wait_exit(20s), 0);
  ASSERT_TRUE(fs::exists(data + "/positions"));

  // No position is recorded during this run (the first sync would come in an hour).
  start({sink_address(live)}, {"--data-dir", data, "--sync-interval", "3600"});
  ASSERT_EQ(ctl({"dest", "add", sink_address(late)}).exit_code, 0);
  constexpr std::size_t kN = 5000;
  UdpSender sender(relayd_->udp_port());
  ASSERT_TRUE(sender.send_paced(make_payloads(0, kN, 100), [&] { return live.count(); }));
  ASSERT_TRUE(live.wait_for_count(kN, 10s));
  kill_relayd();

  late.start();
  start({sink_address(live)}, {"--data-dir", data});
  ASSERT_TRUE(late.wait_for_count(kN, 20s)) << late.count();
  EXPECT_TRUE(is_whole_stream(late.messages(), kN));
}

TEST_F(StateE2eTest, RemovedConfigDestinationStaysRemoved) {
  TcpSink a, b;
  start({sink_address(a), sink_address(b)});
  const RunResult r = ctl({"dest", "rm", sink_address(a)});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  kill_relayd();
  start({sink_address(a), sink_address(b)});
  const auto all = list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].address(), sink_address(b));
  EXPECT_EQ(all[0].origin(), pb::ORIGIN_CONFIG);
  // Re-added as the configuration says: the configuration's again, and so after a restart.
  ASSERT_EQ(ctl({"dest", "add", sink_address(a)}).exit_code, 0);
  relayd_->signal(SIGTERM);
  EXPECT_EQ(relayd_->wait_exit(15s), 0);
  start({sink_address(a), sink_address(b)});
  const auto again = list();
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(find(again, sink_address(a))->origin(), pb::ORIGIN_CONFIG);
}

TEST_F(StateE2eTest, DamagedStateFileStopsStartUpAndResetStateDiscardsIt) {
  TcpSink configured, added;
  start({sink_address(configured)});
  ASSERT_EQ(ctl({"dest", "add", sink_address(added)}).exit_code, 0);
  kill_relayd();
  {
    std::ifstream in(state_file());
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    const auto at = text.find(std::to_string(added.port()));
    ASSERT_NE(at, std::string::npos) << text;
    text[at] = text[at] == '1' ? '2' : '1';
    std::ofstream(state_file(), std::ios::trunc) << text;
  }
  const RunResult r = RelaydProcess::run_to_completion(args({sink_address(configured)}));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.out + r.err, "state file " + state_file())) << describe(r);
  EXPECT_TRUE(contains(r.out + r.err, "damaged")) << describe(r);
  EXPECT_TRUE(contains(r.out + r.err, "--reset-state")) << describe(r);

  start({sink_address(configured)}, {"--reset-state"});
  EXPECT_TRUE(relayd_->wait_for_line("--reset-state: discarded " + state_file(), 5s));
  const auto all = list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].address(), sink_address(configured));
  EXPECT_EQ(all[0].origin(), pb::ORIGIN_CONFIG);
}

TEST_F(StateE2eTest, UnwritableStateDirectoryFailsTheAddClearly) {
  TcpSink configured, added;
  start({sink_address(configured)});
  // Not writable: chmod stops an ordinary user; root (CI) is stopped by the temporary file's name
  // being taken by a directory, so the write fails either way.
  ASSERT_EQ(::chmod(dir_.c_str(), 0500), 0);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
    fs::create_directory(dir_ + "/destinations.state.tmp");
  }
  const RunResult r = ctl({"dest", "add", sink_address(added)});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.err, "INTERNAL")) << describe(r);
  EXPECT_TRUE(contains(r.err, "state file " + dir_)) << describe(r);
  EXPECT_TRUE(contains(r.err, "the change was not made")) << describe(r);
  auto all = list();
  EXPECT_EQ(find(all, sink_address(added)), nullptr) << "dest ls shows an add that failed";
  // A removal that cannot be recorded is not made either.
  const RunResult rm = ctl({"dest", "rm", sink_address(configured)});
  EXPECT_EQ(rm.exit_code, 1) << describe(rm);
  all = list();
  EXPECT_NE(find(all, sink_address(configured)), nullptr) << "removed although not recorded";
  // Nothing of it reached the file: a restart runs the configuration only.
  kill_relayd();
  fs::remove_all(dir_ + "/destinations.state.tmp");
  ::chmod(dir_.c_str(), 0700);
  start({sink_address(configured)});
  all = list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].address(), sink_address(configured));
}

}  // namespace
}  // namespace relay::test
