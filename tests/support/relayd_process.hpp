// relayd_process: a real relayd child process under test.
//
// Spawned with posix_spawn; stdout and stderr go through one pipe into a LogCapture, so the test
// can wait for log lines, parse the bound port and the stats, and print everything on failure.
// Set RELAY_TEST_VERBOSE=1 to echo the daemon's log live. The destructor kills a still-running
// daemon (SIGKILL) so a failing test never leaks one.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "log_capture.hpp"
#include "relay_stats.hpp"
#include "subprocess.hpp"

namespace relay::test {

// The relayd binary under test (the build's, unless RELAYD env var names another).
std::string relayd_path();

class RelaydProcess {
 public:
  explicit RelaydProcess(std::vector<std::string> args);
  ~RelaydProcess();
  RelaydProcess(const RelaydProcess&) = delete;
  RelaydProcess& operator=(const RelaydProcess&) = delete;

  // Waits for the "relayd ready" line; records a failure and returns false otherwise.
  bool wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  std::optional<std::string> wait_for_line(const std::string& regex, std::chrono::milliseconds timeout,
                                           std::size_t from = 0);

  // The port of the index-th "listening on PROTO@HOST:PORT" line (0 if none was logged).
  std::uint16_t listen_port(std::size_t index = 0) const;
  std::uint16_t udp_port() const { return listen_port(0); }

  void signal(int sig);
  // Exit code (128+signal if signalled). On timeout: SIGKILL, a recorded failure, returns -1.
  int wait_exit(std::chrono::milliseconds timeout);
  bool running();
  pid_t pid() const { return pid_; }

  std::vector<std::string> log_lines() const { return log_->lines(); }
  std::size_t log_line_count() const { return log_->line_count(); }
  std::string log_text() const { return log_->text(); }
  RelayStats stats() const { return RelayStats::parse(log_->lines()); }

  // Runs relayd with `args` to completion (for command-line tests): exit code, stdout, stderr.
  static RunResult run_to_completion(const std::vector<std::string>& args,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(15));

 private:
  void reap(int status);

  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  std::unique_ptr<LogCapture> log_;
};

}  // namespace relay::test
