// sd_notify: relayd under a NOTIFY_SOCKET the test owns, as systemd runs it (Type=notify,
// WatchdogSec=): READY=1 once the listener is bound and the threads run, a STATUS= line, then
// STATUS= with rates every few seconds, WATCHDOG=1 every half of WATCHDOG_USEC, STOPPING=1 on
// SIGTERM. Without NOTIFY_SOCKET nothing is sent and relayd runs as before; a WATCHDOG_PID that
// is not relayd's turns the watchdog off (libsystemd's rule for a variable meant for another).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "notify_socket.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

// Sets (or, with nullopt, unsets) environment variables for one test; relayd inherits them.
class ScopedEnv {
 public:
  explicit ScopedEnv(std::vector<std::pair<std::string, std::optional<std::string>>> vars) {
    for (auto& [name, value] : vars) {
      const char* old = ::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      set(name, value);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) set(name, value);
  }

 private:
  static void set(const std::string& name, const std::optional<std::string>& value) {
    if (value)
      ::setenv(name.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

auto has_line(const std::string& line, std::size_t at_least = 1) {
  return [line, at_least](const std::vector<Notification>& ms) {
    std::size_t n = 0;
    for (const auto& m : ms) n += m.has(line);
    return n >= at_least;
  };
}

bool log_has(const RelaydProcess& relayd, const std::string& text) {
  return relayd.log_text().find(text) != std::string::npos;
}

constexpr int kWatchdogUsec = 200000;  // pings every 100 ms

TEST(SdNotifyTest, ReadyStatusWatchdogAndStopping) {
  NotifySocket notify;
  ScopedEnv env({{"NOTIFY_SOCKET", notify.path()},
                 {"WATCHDOG_USEC", std::to_string(kWatchdogUsec)},
                 {"WATCHDOG_PID", std::nullopt}});
  TcpSink sink;
  const auto spawned = Clock::now();
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {destination(sink.port())}));

  ASSERT_TRUE(notify.wait_for(has_line("READY=1"), 15s)) << notify.dump() << relayd.log_text();
  // main.cpp logs "relayd ready" before it notifies: the line is already in the pipe.
  ASSERT_TRUE(relayd.wait_for_line("relayd ready", 5s)) << relayd.log_text();
  EXPECT_TRUE(log_has(relayd, "systemd: notifying " + notify.path() + ", watchdog ping every 100 ms"));
  const Notification ready = notify.messages()[notify.index_of("READY=1")];
  EXPECT_TRUE(
      std::regex_match(ready.value("STATUS"),
                       std::regex(R"(1 listener, 1 destination \(\d connected\); queue [0-9.]+ MiB of [0-9.]+ MiB)")))
      << ready.text;

  // Ready means bound and running: a datagram sent at once is delivered.
  UdpSender sender(relayd.udp_port());
  sender.send("right after READY");
  ASSERT_TRUE(sink.wait_for_count(1, 10s)) << relayd.log_text();
  EXPECT_EQ(sink.messages().front(), "right after READY");
  for (int i = 0; i < 99; ++i) sender.send("message " + std::to_string(i));
  ASSERT_TRUE(sink.wait_for_count(100, 10s)) << relayd.log_text();

  // The watchdog: pings keep coming.
  const std::size_t after_ready = notify.index_of("READY=1");
  ASSERT_TRUE(notify.wait_for(
      [&](const std::vector<Notification>& ms) {
        std::size_t n = 0;
        for (std::size_t i = after_ready; i < ms.size(); ++i) n += ms[i].has("WATCHDOG=1");
        return n >= 5;
      },
      10s))
      << notify.dump();

  // Every 5 s a STATUS= with rates since the previous one: the 100 messages were counted.
  static const std::regex rates(
      R"(1 listener, 1 destination \(1 connected\); (\d+) msg/s in, (\d+) msg/s out, 0 dropped/s; queue .* MiB)");
  ASSERT_TRUE(notify.wait_for(
      [&](const std::vector<Notification>& ms) {
        for (const auto& m : ms) {
          std::smatch match;
          const std::string status = m.value("STATUS");
          if (std::regex_match(status, match, rates) && std::stoul(match[1]) > 0 && std::stoul(match[2]) > 0)
            return true;
        }
        return false;
      },
      15s))
      << notify.dump();

  relayd.signal(SIGTERM);
  ASSERT_TRUE(notify.wait_for(has_line("STOPPING=1"), 10s)) << notify.dump();
  EXPECT_EQ(relayd.wait_exit(20s), 0) << relayd.log_text();
  const auto lifetime = Clock::now() - spawned;
  notify.read_now();

  const std::size_t stopping = notify.index_of("STOPPING=1");
  EXPECT_EQ(notify.messages()[stopping].value("STATUS"), "stopping: draining destinations");
  for (std::size_t i = stopping + 1; i < notify.messages().size(); ++i)
    EXPECT_EQ(notify.messages()[i].value("STATUS"), "") << "a status after STOPPING=1: " << notify.dump();
  EXPECT_EQ(notify.count("READY=1"), 1u);
  // Half the interval, not every 20 ms tick: never more pings than the lifetime allows.
  const auto most = std::chrono::duration_cast<std::chrono::microseconds>(lifetime).count() / (kWatchdogUsec / 2) + 1;
  EXPECT_LE(static_cast<long>(notify.count("WATCHDOG=1")), most) << notify.dump();
}

TEST(SdNotifyTest, WithoutNotifySocketNothingIsSent) {
  NotifySocket notify;  // exists, but relayd is not told about it
  ScopedEnv env({{"NOTIFY_SOCKET", std::nullopt}, {"WATCHDOG_USEC", std::to_string(kWatchdogUsec)}});
  TcpSink sink;
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {destination(sink.port())}));
  ASSERT_TRUE(relayd.wait_ready());
  UdpSender(relayd.udp_port()).send("no systemd");
  ASSERT_TRUE(sink.wait_for_count(1, 10s)) << relayd.log_text();
  relayd.signal(SIGTERM);
  EXPECT_EQ(relayd.wait_exit(20s), 0) << relayd.log_text();
  notify.read_now();  // relayd is gone: whatever it sent is queued
  EXPECT_TRUE(notify.messages().empty()) << notify.dump();
  EXPECT_FALSE(log_has(relayd, "systemd:")) << relayd.log_text();
}

TEST(SdNotifyTest, WatchdogPidOfAnotherProcessTurnsTheWatchdogOff) {
  NotifySocket notify;
  ScopedEnv env({{"NOTIFY_SOCKET", notify.path()},
                 {"WATCHDOG_USEC", std::to_string(kWatchdogUsec)},
                 {"WATCHDOG_PID", std::to_string(::getpid())}});  // the test's, not relayd's
  TcpSink sink;
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {destination(sink.port())}));
  ASSERT_TRUE(notify.wait_for(has_line("READY=1"), 15s)) << notify.dump() << relayd.log_text();
  ASSERT_TRUE(relayd.wait_for_line("no watchdog", 5s)) << relayd.log_text();
  UdpSender(relayd.udp_port()).send("no watchdog");
  ASSERT_TRUE(sink.wait_for_count(1, 10s)) << relayd.log_text();
  relayd.signal(SIGTERM);
  ASSERT_TRUE(notify.wait_for(has_line("STOPPING=1"), 10s)) << notify.dump();
  EXPECT_EQ(relayd.wait_exit(20s), 0) << relayd.log_text();
  notify.read_now();
  EXPECT_EQ(notify.count("WATCHDOG=1"), 0u) << notify.dump();
}

}  // namespace
}  // namespace relay::test
