#include "http_get.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "sockets.hpp"
#include "timeouts.hpp"
#include "unique_fd.hpp"

namespace relay::test {

namespace {

// Reads until the peer closes; false when the deadline passes first or the socket fails.
bool read_to_eof(int fd, Clock::time_point deadline, std::string& out) {
  char buf[16384];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long>(left, 1))) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return false;
}

}  // namespace

std::optional<HttpResponse> http_get(std::uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + scaled(timeout);
  const SocketAddress a = make_address("127.0.0.1", port);
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), a.get(), a.len) != 0) {
    ADD_FAILURE() << "GET " << path << ": connect to 127.0.0.1:" << port << " failed: " << std::strerror(errno);
    return std::nullopt;
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    ADD_FAILURE() << "GET " << path << ": send failed: " << std::strerror(errno);
    return std::nullopt;
  }
  std::string raw;
  if (!read_to_eof(fd.get(), deadline, raw)) {
    ADD_FAILURE() << "GET " << path << ": no complete response in time; got " << raw.size() << " bytes";
    return std::nullopt;
  }
  const auto end = raw.find("\r\n\r\n");
  if (!raw.starts_with("HTTP/1.") || end == std::string::npos || raw.size() < 12) {
    ADD_FAILURE() << "GET " << path << ": not an HTTP response: " << raw.substr(0, 200);
    return std::nullopt;
  }
  HttpResponse r;
  r.status = std::atoi(raw.c_str() + 9);
  r.headers = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  return r;
}

}  // namespace relay::test
