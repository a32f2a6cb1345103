#include "tcp_client.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "sockets.hpp"
#include "timeouts.hpp"

namespace relay::test {

TcpClient::TcpClient(std::uint16_t port) {
  const SocketAddress a = make_address("127.0.0.1", port);
  fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_ || ::connect(fd_.get(), a.get(), a.len) != 0) {
    ADD_FAILURE() << "connect to 127.0.0.1:" << port << " failed: " << std::strerror(errno);
    fd_.reset();
  }
}

bool TcpClient::send_all(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool TcpClient::wait_closed_by_peer(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + scaled(timeout);
  char buf[4096];
  while (Clock::now() < deadline) {
    pollfd p{fd_.get(), POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long>(left, 1))) <= 0) continue;
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
  }
  return false;
}

}  // namespace relay::test
