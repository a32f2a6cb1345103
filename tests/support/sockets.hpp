// sockets: small socket helpers shared by the harness's sinks, senders and clients.
// Every socket is close-on-exec so a spawned relayd never inherits (and keeps alive) a test
// socket: a sink that "stops" must really stop listening.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "unique_fd.hpp"

namespace relay::test {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;
  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const noexcept { return storage.ss_family; }
};

// A numeric IPv4 or IPv6 address (no brackets) and a port. Throws std::invalid_argument.
SocketAddress make_address(const std::string& host, std::uint16_t port);

// The local port a socket is bound to.
std::uint16_t local_port(int fd);

// A TCP port on 127.0.0.1 that nothing listens on: bound, then closed. It is picked below the
// ephemeral range, so no connection's source port takes it meanwhile; another process could
// still bind it, which on loopback in a test run is unlikely enough.
std::uint16_t reserve_port();

// Whether ::1 is usable (IPv6 may be disabled in containers).
bool has_ipv6_loopback();

// Closes with an RST instead of a FIN, as a crashed process's socket would.
void abort_close(UniqueFd& fd);

}  // namespace relay::test
