// notify_socket: the test's side of systemd's notification protocol. A unix datagram socket in
// a fresh temporary directory, as systemd's NOTIFY_SOCKET; every datagram relayd's sd_notify
// sends is one message of "KEY=VALUE" lines, kept with the time it arrived.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "timeouts.hpp"
#include "unique_fd.hpp"

namespace relay::test {

struct Notification {
  std::string text;  // "READY=1\nSTATUS=..."
  Clock::time_point at;
  bool has(const std::string& line) const;          // one of its lines is exactly `line`
  std::string value(const std::string& key) const;  // the value of KEY=..., empty if absent
};

class NotifySocket {
 public:
  NotifySocket();
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::string& path() const { return path_; }

  // Reads what has arrived until `done` holds for the messages received so far, or `timeout`
  // (scaled) passes; returns done's last result.
  bool wait_for(const std::function<bool(const std::vector<Notification>&)>& done, std::chrono::milliseconds timeout);
  // Index of the first message from `from` on with line `line`; wait_for() it first.
  // Reads whatever is queued now, without waiting: after relayd has exited, everything it sent.
  void read_now() { read_available(std::chrono::milliseconds(0)); }
  std::size_t index_of(const std::string& line, std::size_t from = 0) const;
  std::size_t count(const std::string& line) const;
  const std::vector<Notification>& messages() const { return messages_; }
  std::string dump() const;

 private:
  void read_available(std::chrono::milliseconds wait);

  std::string dir_;
  std::string path_;
  UniqueFd fd_;
  std::vector<Notification> messages_;
};

}  // namespace relay::test
