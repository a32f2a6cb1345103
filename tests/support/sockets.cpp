#include "sockets.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <system_error>

namespace relay::test {

SocketAddress make_address(const std::string& host, std::uint16_t port) {
  SocketAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len = sizeof(sockaddr_in6);
  } else {
    throw std::invalid_argument("not a numeric address: " + host);
  }
  return a;
}

std::uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    throw std::system_error(errno, std::generic_category(), "getsockname");
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

namespace {

// The lowest port the kernel hands out as a connection's source (ip_local_port_range).
std::uint16_t first_ephemeral_port() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 0;
  return range >> low && low > 2048 && low <= 65535 ? static_cast<std::uint16_t>(low) : 32768;
}

bool bindable(std::uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const SocketAddress a = make_address("127.0.0.1", port);
  return fd && ::bind(fd.get(), a.get(), a.len) == 0;
}

}  // namespace

// Below the ephemeral range: a port the kernel picked there could meanwhile become the source
// port of some connection (another test's, or relayd's own connect to it meeting itself).
std::uint16_t reserve_port() {
  thread_local std::mt19937 rng(std::random_device{}());
  const std::uint16_t high = first_ephemeral_port();
  std::uniform_int_distribution<unsigned> pick(10000, std::max<unsigned>(high, 10001u) - 1u);
  for (int i = 0; high > 10000 && i < 200; ++i) {
    const auto port = static_cast<std::uint16_t>(pick(rng));
    if (bindable(port)) return port;
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const SocketAddress a = make_address("127.0.0.1", 0);
  if (!fd || ::bind(fd.get(), a.get(), a.len) != 0)
    throw std::system_error(errno, std::generic_category(), "reserve_port bind");
  return local_port(fd.get());
}

bool has_ipv6_loopback() {
  UniqueFd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const SocketAddress a = make_address("::1", 0);
  return fd && ::bind(fd.get(), a.get(), a.len) == 0;
}

void abort_close(UniqueFd& fd) {
  if (!fd) return;
  const linger lg{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  fd.reset();
}

}  // namespace relay::test
