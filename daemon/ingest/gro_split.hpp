// gro_split: a received UDP buffer back into its datagrams. With UDP_GRO the kernel may hand
// over a train of equal-sized datagrams from one sender as one buffer, with the segment size in
// a control message (udp_control.hpp): datagrams of `segment` bytes, the last one possibly shorter.
// Inline, so the common case (no GRO: one datagram) costs the receive loop one comparison.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>

namespace relay {

// Calls each(std::span<const std::byte>) for every datagram in `buffer`, in order; together they
// cover it exactly. Segment 0 (no UDP_GRO message), or one at least as long as the buffer: the
// buffer is one datagram, even an empty one (the caller counts that as dropped_empty). Otherwise
// no datagram is empty or longer than `segment`.
template <typename Each>
inline void split_gro(std::span<const std::byte> buffer, std::size_t segment, Each&& each) {
  if (segment == 0 || segment >= buffer.size()) {
    each(buffer);
    return;
  }
  for (std::size_t at = 0; at < buffer.size(); at += segment)
    each(buffer.subspan(at, std::min(segment, buffer.size() - at)));
}

}  // namespace relay
