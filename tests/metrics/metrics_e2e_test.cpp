// --metrics end to end: the real relayd serves /metrics over real HTTP; promtool accepts the
// exposition; every figure equals what gRPC's GetStats says at rest; scraping while traffic
// flows costs no message; a bad or taken address is a clear start-up error.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include "http_get.hpp"
#include "payload.hpp"
#include "relay/v1/relay.pb.h"
#include "relayctl_runner.hpp"
#include "relayd_process.hpp"
#include "snapshot_accounting.hpp"
#include "sockets.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

namespace pb = relay::v1;
using namespace std::chrono_literals;

// "name{labels} value" lines of an exposition, keyed by "name{labels}".
std::map<std::string, double> parse_samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return out;
}

// promtool's verdict on an exposition: its exit code, with its complaints appended to `why`.
int promtool_check(const std::string& exposition, std::string& why) {
  char path[] = "/tmp/relay-metrics-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return -1;
  ::close(fd);
  std::ofstream(path) << exposition;
  const RunResult r = run_program("/bin/sh", {"-c", std::string("promtool check metrics < ") + path}, 30s);
  std::remove(path);
  why = r.out + r.err;
  return r.exit_code;
}

class MetricsE2eTest : public ::testing::Test {
 protected:
  void start(const std::vector<std::string>& extra = {}) {
    sink_.start();
    std::vector<std::string> args{"--control",        "127.0.0.1:0", "--metrics",          "127.0.0.1:0",
                                  "--stats-interval", "0",           "--max-message-size", "1000"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("udp@127.0.0.1:0");
    args.push_back("tcp@127.0.0.1:" + std::to_string(sink_.port()));
    relayd_ = std::make_unique<RelaydProcess>(args);
    ASSERT_TRUE(relayd_->wait_ready());
    const auto line = relayd_->wait_for_line(R"(metrics on http://127\.0\.0\.1:[0-9]+/metrics)", 5s);
    ASSERT_TRUE(line) << relayd_->log_text();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(*line, m, std::regex(R"(:([0-9]+)/metrics)")));
    metrics_port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
    ctl_ = std::make_unique<RelayctlRunner>(RELAYCTL_PATH, "127.0.0.1:" + std::to_string(control_port(*relayd_)));
  }

  pb::Stats grpc_stats() {
    const RunResult r = ctl_->run({"--json", "stats"});
    pb::Stats s;
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &s).ok()) << r.out;
    return s;
  }

  std::string scrape() {
    const auto r = http_get(metrics_port_, "/metrics");
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->headers;
    EXPECT_NE(r->headers.find("text/plain"), std::string::npos) << r->headers;
    return r->body;
  }

  TcpSink sink_;
  std::unique_ptr<RelaydProcess> relayd_;
  std::unique_ptr<RelayctlRunner> ctl_;
  std::uint16_t metrics_port_ = 0;
};

TEST_F(MetricsE2eTest, ScrapeEqualsGrpcStatsAtRestAndPassesPromtool) {
  ASSERT_NO_FATAL_FAILURE(start());
  UdpSender udp(relayd_->udp_port());
  constexpr std::size_t kMessages = 500;
  for (std::size_t i = 0; i < kMessages; ++i) udp.send(make_payload(i, 100));
  for (int i = 0; i < 3; ++i) udp.send(std::string(2000, 'x'));  // over --max-message-size
  udp.send("");
  ASSERT_TRUE(sink_.wait_for_count(kMessages, 10s)) << sink_.count();
  // At rest once the drops are counted too (they follow the last accepted datagram).
  ASSERT_TRUE(wait_until([&] { return grpc_stats().listeners(0).counters().dropped_empty() == 1; }, 10s));
  const pb::Stats g = grpc_stats();
  const std::string text = scrape();
  const auto m = parse_samples(text);
  const std::string l = "{listener=\"" + g.listeners(0).address() + "\"";
  const std::string d = "{destination=\"" + g.destinations(0).address() + "\"";
  const auto& lc = g.listeners(0).counters();
  const auto& dc = g.destinations(0).counters();
  EXPECT_EQ(m.at("relay_listener_received_messages_total" + l + "}"), lc.received_messages());
  EXPECT_EQ(m.at("relay_listener_received_messages_total" + l + "}"), kMessages);
  EXPECT_EQ(m.at("relay_listener_received_bytes_total" + l + "}"), lc.received_bytes());
  EXPECT_EQ(m.at("relay_listener_dropped_messages_total" + l + ",reason=\"oversized\"}"), 3);
  EXPECT_EQ(m.at("relay_listener_dropped_messages_total" + l + ",reason=\"empty\"}"), 1);
  EXPECT_EQ(m.at("relay_destination_sent_messages_total" + d + "}"), dc.sent_messages());
  EXPECT_EQ(m.at("relay_destination_sent_bytes_total" + d + "}"), dc.sent_bytes());
  EXPECT_EQ(m.at("relay_destination_connects_total" + d + "}"), dc.connects());
  EXPECT_EQ(m.at("relay_destination_lag_messages" + d + "}"), g.destinations(0).lag_messages());
  EXPECT_EQ(m.at("relay_destination_state" + d + ",state=\"connected\"}"), 1);
  EXPECT_EQ(m.at("relay_queue_tail"), g.queue().tail());
  EXPECT_EQ(m.at("relay_queue_max_bytes"), g.queue().max_queue_bytes());
  std::string why;
  EXPECT_EQ(promtool_check(text, why), 0) << why << "\n" << text;
}

TEST_F(MetricsE2eTest, ScrapingWhileTrafficFlowsLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(start());
  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0};
  std::thread scraper([&] {
    while (!stop.load()) {
      if (!scrape().empty()) ++scrapes;
      std::this_thread::sleep_for(10ms);  // a scraper's pace, not synchronisation
    }
  });
  UdpSender udp(relayd_->udp_port());
  constexpr std::size_t kMessages = 20000;
  std::vector<std::string> payloads;
  for (std::size_t i = 0; i < kMessages; ++i) payloads.push_back(make_payload(i, 200));
  const bool sent = udp.send_paced(
      payloads, [&] { return sink_.count(); }, 256);
  const bool delivered = sink_.wait_for_count(kMessages, 20s);
  stop = true;
  scraper.join();
  ASSERT_TRUE(sent);
  EXPECT_TRUE(delivered) << sink_.count() << " of " << kMessages;
  EXPECT_GT(scrapes.load(), 5);
  const std::string d = "{destination=\"tcp@127.0.0.1:" + std::to_string(sink_.port()) + "\"}";
  // sent counts what the sink's TCP acknowledged: that may come a moment after the sink read it.
  std::map<std::string, double> m;
  EXPECT_TRUE(wait_until(
      [&] {
        m = parse_samples(scrape());
        return m["relay_destination_sent_messages_total" + d] == kMessages;
      },
      10s));
  EXPECT_EQ(m.at("relay_destination_sent_messages_total" + d), kMessages);
  expect_snapshot_adds_up(grpc_stats(), {{relayd_->udp_port(), kMessages}});
}

TEST(MetricsStartup, ABadOrTakenAddressIsAClearError) {
  const RunResult name = RelaydProcess::run_to_completion({"--metrics", "localhost:9108", "udp@127.0.0.1:0"});
  EXPECT_EQ(name.exit_code, 2) << "a name is a usage error";
  EXPECT_NE(name.err.find("--metrics: expected IPv4:PORT or [IPv6]:PORT"), std::string::npos) << name.err;
  EXPECT_NE(name.err.find("localhost:9108"), std::string::npos) << name.err;
  const RunResult no_port = RelaydProcess::run_to_completion({"--metrics", "127.0.0.1", "udp@127.0.0.1:0"});
  EXPECT_EQ(no_port.exit_code, 2) << no_port.err;
  // A port something else listens on.
  const UniqueFd taken(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const SocketAddress a = make_address("127.0.0.1", 0);
  ASSERT_EQ(::bind(taken.get(), a.get(), a.len), 0);
  ASSERT_EQ(::listen(taken.get(), 1), 0);
  const std::string address = "127.0.0.1:" + std::to_string(local_port(taken.get()));
  const RunResult busy =
      RelaydProcess::run_to_completion({"--metrics", address, "udp@127.0.0.1:0", "--control", "none"});
  EXPECT_EQ(busy.exit_code, 1) << "a taken port is a start-up failure, as for listeners";
  EXPECT_NE(busy.err.find("--metrics " + address + ": cannot listen there"), std::string::npos) << busy.err;
}

}  // namespace
}  // namespace relay::test
