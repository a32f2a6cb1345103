// ingest_test_util: what the listener tests share: bounded waits, loopback sockets, and reading
// back what a ServerThread appended to a real Queue through a real Cursor.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cursor.hpp"
#include "queue.hpp"
#include "server_thread.hpp"

namespace relay::test {

// Polls `done` until true or the deadline passes; the sleep is the polling period only, the
// condition is what is awaited.
template <typename Pred>
bool wait_until(Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// "udp@127.0.0.1:40000" -> 40000.
inline std::uint16_t port_of(const std::string& address) {
  return static_cast<std::uint16_t>(std::stoul(address.substr(address.rfind(':') + 1)));
}

inline sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Closes on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

inline std::span<const std::byte> bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// Everything published so far, read with a cursor that joined at the oldest message; waits
// (bounded) until `expected` messages are readable.
inline std::vector<std::string> read_messages(Queue& queue, std::size_t expected) {
  Cursor cursor(queue, StartAt::head);
  std::vector<std::string> out;
  std::vector<MessageView> views(64);
  wait_until([&] {
    const std::size_t n = cursor.peek(views);
    for (std::size_t i = 0; i < n; ++i)
      out.emplace_back(reinterpret_cast<const char*>(views[i].payload), views[i].size);
    cursor.advance(std::span(views).first(n));
    return out.size() >= expected;
  });
  return out;
}

}  // namespace relay::test
