// Reload end to end: the real relayd started with --config, the file rewritten and SIGHUP sent.
// Destinations the new file adds start receiving, those it drops are drained and removed, a
// destination that stays never misses a message — over 50 reloads under load — and a file with
// any fault is rejected whole while the running configuration carries on.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "accounting.hpp"
#include "framing.hpp"
#include "payload.hpp"
#include "relayctl_runner.hpp"
#include "relayd_process.hpp"
#include "sequence_check.hpp"
#include "sockets.hpp"
#include "tcp_client.hpp"
#include "tcp_sink.hpp"
#include "temp_dir.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

using namespace std::chrono_literals;

std::string config_with(const std::vector<const TcpSink*>& sinks, const std::string& extra = {},
                        const std::string& control = "none", const std::string& listeners = "\"udp@127.0.0.1:0\"") {
  std::string out = "listeners = [" + listeners + "]\n" + extra + "\n";
  for (const TcpSink* s : sinks) out += fmt::format("[[destination]]\naddress = \"tcp@127.0.0.1:{}\"\n", s->port());
  out += "[control]\naddress = \"" + control + "\"\n[log]\nstats_interval = 0\n";
  return out;
}

// Whether a TCP connect to 127.0.0.1:port is refused (nothing listens there).
bool connect_refused(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const SocketAddress a = make_address("127.0.0.1", port);
  const bool refused = connect(fd, a.get(), a.len) != 0 && errno == ECONNREFUSED;
  close(fd);
  return refused;
}

std::string frame(std::uint64_t seq) { return encode(Framing::lp32le, make_payload(seq, 64)); }

class ReloadE2eTest : public ::testing::Test {
 protected:
  // Replaces the file at once (a new file renamed over it): relayd never reads half of one.
  void write_config(const std::string& text) {
    write_file(path_ + ".new", text);
    ASSERT_EQ(std::rename((path_ + ".new").c_str(), path_.c_str()), 0);
  }

  void start(const std::string& text) {
    write_config(text);
    relayd_ = std::make_unique<RelaydProcess>(std::vector<std::string>{"--config", path_});
    ASSERT_TRUE(relayd_->wait_ready());
    ASSERT_NE(relayd_->udp_port(), 0);
  }

  // SIGHUP, then the reload's summary line (or rejection) that follows it; the line, or "".
  std::string reload(
      const std::string& expect_regex = R"(reload: \S+: ([0-9]+ destination\(s\) removed|no change to apply))") {
    const std::size_t from = relayd_->log_line_count();
    relayd_->signal(SIGHUP);
    return relayd_->wait_for_line(expect_regex, 20s, from).value_or("");
  }

  TempDir dir_{"relay-reload"};
  std::string path_ = dir_ / "relayd.toml";
  std::unique_ptr<RelaydProcess> relayd_;
};

TEST_F(ReloadE2eTest, AddedDestinationsStartRemovedOnesAreDrainedAndTheLogLevelChanges) {
  TcpSink a, b, c;
  ASSERT_NO_FATAL_FAILURE(start(config_with({&a, &b})));
  UdpSender udp(relayd_->udp_port());
  for (int i = 0; i < 100; ++i) udp.send(make_payload(i, 64));
  ASSERT_TRUE(a.wait_for_count(100, 10s) && b.wait_for_count(100, 10s)) << a.count() << " " << b.count();

  write_config(config_with({&a, &c}, "[queue]\nmax_bytes = \"64MiB\"") + "level = \"debug\"\n");
  const std::string line = reload();
  EXPECT_NE(
      line.find(
          "1 destination(s) removed, 1 added, 0 replaced; 0 listener(s) removed, 0 added; log.level: info -> debug"),
      std::string::npos)
      << relayd_->log_text();
  EXPECT_TRUE(relayd_->wait_for_line("not applied until a restart: queue.max_bytes", 5s)) << relayd_->log_text();
  ASSERT_TRUE(c.wait_for_connections(1, 10s));
  for (int i = 100; i < 200; ++i) udp.send(make_payload(i, 64));
  ASSERT_TRUE(a.wait_for_count(200, 10s)) << a.count();
  ASSERT_TRUE(c.wait_for_count(100, 10s)) << c.count();
  EXPECT_TRUE(is_whole_stream(a.messages(), 200));
  EXPECT_EQ(b.count(), 100u) << "the removed destination got messages sent after the reload";
  EXPECT_EQ(check_sequence(c.messages()).first, 100u) << "the added destination starts at the tail";
  EXPECT_TRUE(check_sequence(c.messages()).contiguous());

  relayd_->signal(SIGTERM);
  EXPECT_EQ(relayd_->wait_exit(20s), 0);
}

TEST_F(ReloadE2eTest, AFileWithAnyFaultIsRejectedWholeAndTheRunningConfigurationStays) {
  TcpSink a, d;
  ASSERT_NO_FATAL_FAILURE(start(config_with({&a})));
  // A new destination and a typo: nothing of it may apply.
  write_config(config_with({&a, &d}, "[queue]\nmax_byts = \"64MiB\""));
  const std::string line = reload("reload: .*rejected");
  EXPECT_NE(line.find("relayd.toml:3:1: queue.max_byts: unknown key (did you mean max_bytes?)"), std::string::npos)
      << relayd_->log_text();
  EXPECT_NE(line.find("the running configuration stays"), std::string::npos) << line;
  UdpSender udp(relayd_->udp_port());
  for (int i = 0; i < 50; ++i) udp.send(make_payload(i, 64));
  ASSERT_TRUE(a.wait_for_count(50, 10s)) << a.count();
  EXPECT_EQ(d.connections(), 0u) << "a rejected file's destination was added";
  // The file fixed: now it applies.
  write_config(config_with({&a, &d}));
  EXPECT_NE(reload().find("0 destination(s) removed, 1 added"), std::string::npos) << relayd_->log_text();
  ASSERT_TRUE(d.wait_for_connections(1, 10s));
  relayd_->signal(SIGTERM);
  EXPECT_EQ(relayd_->wait_exit(20s), 0);
}

// A group's members changed in the file: the new group takes over at the old one's cursor, so
// every message sent before and after the reload reaches a member; the new member gets a share.
TEST_F(ReloadE2eTest, AGroupGainingAMemberTakesOverWithoutLoss) {
  constexpr std::size_t kHalf = 2000;
  TcpSink a(Framing::line), b(Framing::line), c(Framing::line);
  const auto group_config = [](const std::vector<const TcpSink*>& members) {
    std::string list;
    for (const auto* m : members) list += fmt::format("{}127.0.0.1:{}", list.empty() ? "" : ",", m->port());
    return fmt::format(
        "listeners = [\"udp@127.0.0.1:0\"]\n[[destination]]\naddress = \"hash@{}?framing=line\"\n[control]\n"
        "address = \"none\"\n[log]\nstats_interval = 0\n",
        list);
  };
  ASSERT_NO_FATAL_FAILURE(start(group_config({&a, &b})));
  ASSERT_TRUE(a.wait_for_connections(1, 10s));
  ASSERT_TRUE(b.wait_for_connections(1, 10s));
  UdpSender udp(relayd_->udp_port());
  const auto total = [&] { return a.count() + b.count() + c.count(); };
  std::vector<std::string> first, second;
  for (std::size_t i = 0; i < 2 * kHalf; ++i)
    (i < kHalf ? first : second).push_back(fmt::format("relay.reload.m{} {} 1700000000", i % 100, i));
  ASSERT_TRUE(udp.send_paced(first, total));
  write_config(group_config({&a, &b, &c}));
  const std::string line = reload();
  EXPECT_NE(line.find("0 destination(s) removed, 0 added, 1 replaced"), std::string::npos) << relayd_->log_text();
  EXPECT_NE(relayd_->log_text().find("% of keys change member"), std::string::npos) << relayd_->log_text();
  ASSERT_TRUE(udp.send_paced(second, total));
  ASSERT_TRUE(wait_until([&] { return total() >= 2 * kHalf; }, 20s)) << total();
  relayd_->signal(SIGTERM);
  ASSERT_EQ(relayd_->wait_exit(20s), 0);
  std::set<std::string> got;
  for (const auto* s : {&a, &b, &c})
    for (const auto& m : s->messages()) got.insert(m);
  EXPECT_EQ(got.size(), 2 * kHalf) << "messages lost across the reload";
  EXPECT_GT(c.count(), 0u) << "the new member got no share";
}

// 50 reloads while messages flow: the destination every version of the file keeps gets every
// message, once, in order; the ones that come and go are each added and removed cleanly.
TEST_F(ReloadE2eTest, FiftyReloadsUnderLoadLoseNothingForTheDestinationThatStays) {
  constexpr int kReloads = 50;
  TcpSink stays, b, c;
  ASSERT_NO_FATAL_FAILURE(start(config_with({&stays, &b})));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sent{0};
  std::thread sender([&] {
    UdpSender udp(relayd_->udp_port());
    std::uint64_t seq = 0;
    while (!stop.load()) {
      // Paced against what arrived, so the kernel's receive buffer never drops (not the test).
      while (seq > stays.count() + 256 && !stop.load()) std::this_thread::yield();
      udp.send(make_payload(seq++, 100));
      sent.store(seq);
    }
  });
  int applied = 0;
  for (int i = 0; i < kReloads; ++i) {
    write_config(config_with({&stays, i % 2 == 0 ? &c : &b}));
    applied += reload().find("1 destination(s) removed, 1 added") != std::string::npos;
    const std::size_t before = stays.count();  // traffic between each reload and the next
    if (!wait_until([&] { return stays.count() >= before + 200; }, 10s)) {
      ADD_FAILURE() << "traffic stopped after reload " << i;  // not ASSERT: the sender must be joined
      break;
    }
  }
  stop = true;
  sender.join();
  EXPECT_EQ(applied, kReloads) << relayd_->log_text();
  ASSERT_TRUE(stays.wait_for_count(sent.load(), 20s)) << stays.count() << " of " << sent.load();
  EXPECT_TRUE(is_whole_stream(stays.messages(), sent.load()));
  EXPECT_GE(sent.load(), 200u * kReloads);
  EXPECT_EQ(b.connections() + c.connections(), std::size_t{kReloads} + 1);
  relayd_->signal(SIGTERM);
  EXPECT_EQ(relayd_->wait_exit(20s), 0);
}

// A listener the file adds is bound and takes input; one it drops stops accepting at once but
// reads its open connection until that goes quiet, so nothing a sender had sent is lost; the
// listener that stays keeps its socket (and port 0's port) through every reload, and the
// connection limit changes in place. The removed listener's counts stay in the exit report.
TEST_F(ReloadE2eTest, ListenersComeAndGoWithoutLosingAMessage) {
  TcpSink a;
  ASSERT_NO_FATAL_FAILURE(start(config_with({&a})));
  const std::uint16_t udp_port = relayd_->udp_port();
  const std::uint16_t tcp_port = reserve_port();
  const std::string both = fmt::format("\"udp@127.0.0.1:0\", \"tcp@127.0.0.1:{}\"", tcp_port);
  write_config(config_with({&a}, "[ingest]\nmax_connections = 1", "none", both));
  const std::string added = reload();
  EXPECT_NE(added.find("0 listener(s) removed, 1 added; ingest.max_connections: 1024 -> 1"), std::string::npos)
      << relayd_->log_text();
  TcpClient client(tcp_port);
  ASSERT_TRUE(client.connected());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(client.send_all(frame(i)));
  ASSERT_TRUE(a.wait_for_count(100, 10s)) << a.count();
  TcpClient second(tcp_port);  // over the new limit: relayd closes it
  EXPECT_TRUE(second.wait_closed_by_peer(10s));

  write_config(config_with({&a}, "[ingest]\nmax_connections = 1"));
  const std::string removed = reload();
  EXPECT_NE(removed.find("1 listener(s) removed, 0 added"), std::string::npos) << relayd_->log_text();
  EXPECT_TRUE(connect_refused(tcp_port)) << "the removed listener still accepts";
  for (int i = 100; i < 200; ++i) ASSERT_TRUE(client.send_all(frame(i)));  // the open connection is still read
  ASSERT_TRUE(a.wait_for_count(200, 10s)) << a.count();
  EXPECT_TRUE(client.wait_closed_by_peer(10s)) << "relayd kept a quiet connection of a removed listener";
  EXPECT_EQ(relayd_->udp_port(), udp_port);
  UdpSender udp(udp_port);
  for (int i = 200; i < 300; ++i) udp.send(make_payload(i, 64));
  ASSERT_TRUE(a.wait_for_count(300, 10s)) << a.count();
  EXPECT_TRUE(is_whole_stream(a.messages(), 300));

  relayd_->signal(SIGTERM);
  ASSERT_EQ(relayd_->wait_exit(20s), 0);
  const RelayStats stats = relayd_->stats();
  expect_exit_report_adds_up(stats, {{udp_port, 100}});
  const auto gone = stats.listeners().find("removed");
  ASSERT_NE(gone, stats.listeners().end()) << relayd_->log_text();
  EXPECT_EQ(gone->second.u("received_messages"), 200u);
  EXPECT_EQ(gone->second.u("connections_refused"), 1u);
}

// A reload may not create a loop: a listener where a running destination sends is refused, the
// rest of the file still applies.
TEST_F(ReloadE2eTest, AListenerWhereADestinationSendsIsRefused) {
  TcpSink a;
  const std::uint16_t port = reserve_port();  // nothing listens: that destination backs off
  const std::string dest = fmt::format("[[destination]]\naddress = \"tcp@127.0.0.1:{}\"\n", port);
  ASSERT_NO_FATAL_FAILURE(start(config_with({&a}) + dest));
  write_config(config_with({&a}, {}, "none", fmt::format("\"udp@127.0.0.1:0\", \"tcp@127.0.0.1:{}\"", port)) + dest);
  const std::string line = reload();
  EXPECT_NE(line.find("0 listener(s) removed, 0 added"), std::string::npos) << relayd_->log_text();
  EXPECT_TRUE(relayd_->wait_for_line(fmt::format("reload: failed: add tcp@127.0.0.1:{}: destination tcp@127.0.0.1:{} "
                                                 "sends there",
                                                 port, port),
                                     5s))
      << relayd_->log_text();
  EXPECT_TRUE(connect_refused(port));
  relayd_->signal(SIGTERM);
  EXPECT_EQ(relayd_->wait_exit(20s), 0);
}

// The Reload RPC (relayctl reload) does what SIGHUP does and answers with what changed; a faulty
// file is FAILED_PRECONDITION naming the fault; both are audited.
// Reconnect timing and the statistics interval change without a restart: a destination sitting
// in a 30 s backoff connects within seconds of the reload that shortens it, and the statistics
// lines that were off start coming.
TEST_F(ReloadE2eTest, ReconnectTimingAndTheStatsIntervalChangeInPlace) {
  TcpSink down(TcpSink::Options{.port = reserve_port(), .start = false});
  const std::string slow = "[delivery]\nreconnect_min = 30\nreconnect_max = 30";
  ASSERT_NO_FATAL_FAILURE(start(config_with({&down}, slow)));
  // The first attempt is refused: from here the destination waits 15-30 s (jittered backoff).
  ASSERT_TRUE(relayd_->wait_for_line(fmt::format("destination tcp@127.0.0.1:{}: .*refused", down.port()), 10s))
      << relayd_->log_text();
  down.start();
  std::string fast = config_with({&down}, "[delivery]\nreconnect_min = 0.05\nreconnect_max = 0.1");
  fast.replace(fast.find("stats_interval = 0"), 18, "stats_interval = 1");
  write_config(fast);
  const auto reloaded = std::chrono::steady_clock::now();
  const std::string line = reload();
  EXPECT_NE(line.find("delivery.reconnect_min: 30 -> 0.05"), std::string::npos) << line;
  EXPECT_NE(line.find("log.stats_interval: 0 -> 1"), std::string::npos) << line;
  ASSERT_TRUE(down.wait_for_connections(1, 10s)) << relayd_->log_text();
  EXPECT_LT(std::chrono::steady_clock::now() - reloaded, 10s) << "the 30 s backoff was not cut short";
  EXPECT_TRUE(relayd_->wait_for_line("stats queue tail=", 5s)) << relayd_->log_text();
  EXPECT_FALSE(relayd_->log_text().find("not applied until a restart") != std::string::npos) << relayd_->log_text();
  relayd_->signal(SIGTERM);
  EXPECT_EQ(relayd_->wait_exit(20s), 0);
}

TEST_F(ReloadE2eTest, RelayctlReloadAnswersWithWhatChanged) {
  TcpSink a, d;
  ASSERT_NO_FATAL_FAILURE(start(config_with({&a}, {}, "127.0.0.1:0")));
  const RelayctlRunner ctl(RELAYCTL_PATH, "127.0.0.1:" + std::to_string(control_port(*relayd_)));
  write_config(config_with({&a, &d}, {}, "127.0.0.1:0"));
  const RunResult ok = ctl.run({"reload"});
  EXPECT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_NE(ok.out.find("reloaded " + path_), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("added tcp@127.0.0.1:" + std::to_string(d.port())), std::string::npos) << ok.out;
  ASSERT_TRUE(d.wait_for_connections(1, 10s));
  EXPECT_NE(ctl.run({"reload"}).out.find("no change"), std::string::npos);

  write_config(config_with({&a}, "[queue]\nmax_byts = 1", "127.0.0.1:0"));
  const RunResult bad = ctl.run({"reload"});
  EXPECT_EQ(bad.exit_code, 1) << describe(bad);
  EXPECT_NE(bad.err.find("FAILED_PRECONDITION"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("queue.max_byts: unknown key"), std::string::npos) << bad.err;
  EXPECT_TRUE(relayd_->wait_for_line("audit: .* Reload config file -> OK", 5s)) << relayd_->log_text();
  EXPECT_TRUE(relayd_->wait_for_line("audit: .* Reload config file -> FAILED_PRECONDITION", 5s));
  EXPECT_EQ(d.connections(), 1u) << "the rejected file removed nothing";
  relayd_->signal(SIGTERM);
  EXPECT_EQ(relayd_->wait_exit(20s), 0);
}

}  // namespace
}  // namespace relay::test
