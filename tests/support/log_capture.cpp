#include "log_capture.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "timeouts.hpp"

namespace relay::test {

LogCapture::LogCapture(UniqueFd fd, bool echo, std::string prefix)
    : fd_(std::move(fd)), echo_(echo), prefix_(std::move(prefix)), reader_([this] { run(); }) {}

LogCapture::~LogCapture() {
  if (reader_.joinable()) reader_.join();
}

void LogCapture::run() {
  std::string partial;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      add_line(partial.substr(0, nl));
      partial.erase(0, nl + 1);
    }
  }
  if (!partial.empty()) add_line(std::move(partial));
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

void LogCapture::add_line(std::string line) {
  if (echo_) std::fprintf(stderr, "%s%s\n", prefix_.c_str(), line.c_str());
  std::lock_guard lock(mu_);
  lines_.push_back(std::move(line));
  cv_.notify_all();
}

std::optional<std::string> LogCapture::find(const std::regex& re, std::size_t from) const {
  for (std::size_t i = from; i < lines_.size(); ++i)
    if (std::regex_search(lines_[i], re)) return lines_[i];
  return std::nullopt;
}

std::optional<std::string> LogCapture::wait_for_line(const std::regex& re, std::chrono::milliseconds timeout,
                                                     std::size_t from) {
  std::unique_lock lock(mu_);
  std::optional<std::string> hit;
  // Only lines added since the last look are searched again.
  std::size_t scanned = from;
  cv_.wait_for(lock, scaled(timeout), [&] {
    hit = find(re, scanned);
    scanned = std::max(scanned, lines_.size());
    return hit.has_value() || closed_;
  });
  return hit;
}

bool LogCapture::wait_closed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, scaled(timeout), [&] { return closed_; });
}

std::vector<std::string> LogCapture::lines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

std::size_t LogCapture::line_count() const {
  std::lock_guard lock(mu_);
  return lines_.size();
}

std::string LogCapture::text() const {
  std::lock_guard lock(mu_);
  std::string all;
  for (const auto& l : lines_) all.append(l).push_back('\n');
  return all;
}

}  // namespace relay::test
