#include "own_addresses.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>

namespace relay {

namespace {

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET)
    return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in&>(b).sin_addr.s_addr;
  if (a.ss_family == AF_INET6)
    return std::memcmp(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr,
                       &reinterpret_cast<const sockaddr_in6&>(b).sin6_addr, sizeof(in6_addr)) == 0;
  return false;
}

bool is_wildcard(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr == htonl(INADDR_ANY);
  if (a.ss_family == AF_INET6) return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr);
  return false;
}

bool is_loopback(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return (ntohl(reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr) >> 24) == 127;
  if (a.ss_family == AF_INET6) return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr);
  return false;
}

// An address of one of this host's interfaces (read now: interfaces come and go).
bool is_interface_address(const sockaddr_storage& a) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  bool found = false;
  for (const ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != a.ss_family) continue;
    sockaddr_storage s{};
    std::memcpy(&s, i->ifa_addr, a.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    found = same_address(s, a);
  }
  freeifaddrs(list);
  return found;
}

bool is_local(const sockaddr_storage& a) { return is_wildcard(a) || is_loopback(a) || is_interface_address(a); }

}  // namespace

void OwnAddresses::add(const Endpoint& bound) {
  std::lock_guard lock(mutex_);
  own_.push_back(bound);
}

void OwnAddresses::remove(const std::string& bound) {
  std::lock_guard lock(mutex_);
  std::erase_if(own_, [&](const Endpoint& e) { return e.str() == bound; });
}

std::optional<std::string> OwnAddresses::reached_by(const Endpoint& dest) const {
  std::lock_guard lock(mutex_);
  for (const Endpoint& own : own_) {
    if (own.port != dest.port) continue;
    if (same_address(own.addr, dest.addr) || (is_wildcard(own.addr) && is_local(dest.addr)) ||
        (is_wildcard(dest.addr) && is_local(own.addr)))
      return own.str();
  }
  return std::nullopt;
}

}  // namespace relay
