// udp_gro_fuzz: the UDP receive path's two parsers. read_udp_control against an arbitrary control
// buffer (sized exactly, so ASan sees any read past its end; udp_control_test covers reads past
// a message's own cmsg_len inside it), then split_gro of an arbitrary buffer by the segment size
// found there and by one chosen directly:
// the datagrams must cover the buffer exactly, in order; none empty (unless the buffer is) and
// none longer than the segment; only the last may be shorter; segment 0 or one at least the
// buffer's length gives the buffer as one datagram.
// Input: control length (1 byte), the control bytes, a segment size (2 bytes LE), the buffer.
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "gro_split.hpp"
#include "udp_control.hpp"

namespace {

[[noreturn]] void fail() { std::abort(); }

void check_split(std::span<const std::byte> buffer, std::size_t segment) {
  std::size_t covered = 0;
  std::size_t count = 0;
  bool short_seen = false;
  relay::split_gro(buffer, segment, [&](std::span<const std::byte> d) {
    if (d.data() != buffer.data() + covered) fail();  // in order, no gap, no overlap
    if (short_seen) fail();                           // only the last may be shorter
    const bool whole = segment == 0 || segment >= buffer.size();
    if (whole ? d.size() != buffer.size() : (d.empty() || d.size() > segment)) fail();
    if (!whole && d.size() < segment) short_seen = true;
    covered += d.size();
    ++count;
  });
  if (covered != buffer.size() || count == 0) fail();
  if (segment != 0 && segment < buffer.size() && count != (buffer.size() + segment - 1) / segment) fail();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t control_len = std::min<std::size_t>(data[0], size - 1);
  // Its own allocation, exactly control_len long, so ASan sees a read past it; operator new[]
  // aligns to max_align_t, as much as cmsghdr needs.
  std::unique_ptr<unsigned char[]> exact(new unsigned char[control_len]);
  if (control_len > 0) std::memcpy(exact.get(), data + 1, control_len);
  msghdr h{};
  h.msg_control = exact.get();
  h.msg_controllen = control_len;
  const relay::UdpControl got = relay::read_udp_control(h);
  if (got.segment > static_cast<std::size_t>(INT32_MAX)) fail();

  std::size_t at = 1 + control_len;
  std::size_t direct = 0;
  if (size - at >= 2) {
    direct = data[at] | data[at + 1] << 8;
    at += 2;
  }
  const std::span<const std::byte> buffer(reinterpret_cast<const std::byte*>(data + at), size - at);
  check_split(buffer, got.segment);
  check_split(buffer, direct);
  return 0;
}
