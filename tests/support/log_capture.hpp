// log_capture: collects a child's output, line by line, on a reader thread, so a test can wait
// for a line to appear (a condition) instead of sleeping, and print the whole log on failure.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "unique_fd.hpp"

namespace relay::test {

class LogCapture {
 public:
  // Takes the read end of a pipe; reads until EOF. `echo` copies each line to stderr as it comes.
  LogCapture(UniqueFd fd, bool echo, std::string prefix);
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // The first line at index >= from matching `re`, waiting up to `timeout` (scaled); nullopt on
  // timeout or when the writer closed the pipe without producing one.
  std::optional<std::string> wait_for_line(const std::regex& re, std::chrono::milliseconds timeout,
                                           std::size_t from = 0);
  // Waits for EOF (every writer gone); false on timeout.
  bool wait_closed(std::chrono::milliseconds timeout);

  std::vector<std::string> lines() const;
  std::size_t line_count() const;
  std::string text() const;

 private:
  void run();
  void add_line(std::string line);
  std::optional<std::string> find(const std::regex& re, std::size_t from) const;

  UniqueFd fd_;
  bool echo_;
  std::string prefix_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool closed_ = false;
  std::thread reader_;
};

}  // namespace relay::test
