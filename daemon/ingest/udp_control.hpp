// udp_control: what relayd reads from a received datagram's control messages. The kernel
// attaches the socket's cumulative drop count (SO_RXQ_OVFL, a wrapping u32) once it is non-zero,
// and with UDP_GRO the segment size of a coalesced buffer (gro_split.hpp).
// Pure: reads only the msghdr's control buffer, never past msg_controllen nor past a message's
// own cmsg_len (the kernel's messages are well-formed; the fuzzer's need not be).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

namespace relay {

#ifndef UDP_GRO
inline constexpr int UDP_GRO = 104;  // linux/udp.h; older libc headers lack it
#endif

struct UdpControl {
  std::size_t segment = 0;             // UDP_GRO's segment size; 0: the buffer is one datagram
  std::optional<std::uint32_t> drops;  // SO_RXQ_OVFL's total, when attached
};

namespace detail {

// A control message's payload as a T, when the message holds one whole T inside the buffer.
template <typename T>
bool read_cmsg_value(const msghdr& h, const cmsghdr* c, T& out) noexcept {
  const auto* begin = static_cast<const unsigned char*>(h.msg_control);
  const std::size_t offset = static_cast<std::size_t>(reinterpret_cast<const unsigned char*>(c) - begin);
  if (c->cmsg_len < CMSG_LEN(sizeof(T)) || h.msg_controllen - offset < CMSG_LEN(sizeof(T))) return false;
  std::memcpy(&out, CMSG_DATA(c), sizeof(T));
  return true;
}

}  // namespace detail

inline UdpControl read_udp_control(const msghdr& h) noexcept {
  auto& hdr = const_cast<msghdr&>(h);  // CMSG_NXTHDR takes non-const pointers; nothing is written
  UdpControl out;
  for (cmsghdr* c = CMSG_FIRSTHDR(&hdr); c != nullptr; c = CMSG_NXTHDR(&hdr, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
      std::uint32_t total = 0;
      if (detail::read_cmsg_value(h, c, total)) out.drops = total;
    } else if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
      int size = 0;
      if (detail::read_cmsg_value(h, c, size)) out.segment = size > 0 ? static_cast<std::size_t>(size) : 0;
    }
  }
  return out;
}

}  // namespace relay
