// frame_reader: the lp32le decoding of one TCP-ingest stream (4-byte little-endian length, then
// the payload), with no socket in it: bytes go in in whatever pieces read() returned, complete
// frames come out, in order, as views into the reader's buffer (no copy).
//
// The buffer grows with what actually arrives (allocated at the first read, doubled only when
// full, never past what the frame at its front needs), so a header alone cannot make relayd
// allocate the size it announces; it holds at most twice what came. A header announcing more
// than the caller's maximum is a verdict, not a skip: the peer may be speaking another protocol,
// so the connection ends there, and everything from that header on is dropped, counted.
// Thread: whichever owns the connection (the server thread); not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>

namespace relay {

inline constexpr std::size_t kFrameHeader = 4;

inline std::uint32_t load_le32(const std::byte* p) noexcept {
  return std::to_integer<std::uint32_t>(p[0]) | std::to_integer<std::uint32_t>(p[1]) << 8 |
         std::to_integer<std::uint32_t>(p[2]) << 16 | std::to_integer<std::uint32_t>(p[3]) << 24;
}

// A header announcing a frame longer than allowed: the stream cannot go on past it.
struct OversizedFrame {
  std::uint32_t length;       // what the header announced
  std::size_t dropped_bytes;  // the header and every byte received after it
};

class FrameReader {
 public:
  static constexpr std::size_t kDefaultInitialBuffer = std::size_t{16} << 10;

  // `initial_buffer` (> 0): the first allocation, and what the buffer shrinks back from.
  explicit FrameReader(std::size_t initial_buffer = kDefaultInitialBuffer) noexcept : initial_(initial_buffer) {}

  // Room for the next read: never empty after take_frames has run on what was received.
  std::span<std::byte> room() {
    if (used_ == capacity_) grow();
    return {buf_.get() + used_, capacity_ - used_};
  }

  // `n` bytes (at most room().size()) were written at the start of room().
  void received(std::size_t n) noexcept { used_ += n; }

  // Calls frame(std::span<const std::byte> payload) for every complete frame received, in order,
  // and keeps the incomplete tail. Stops at a header announcing more than `max_payload`: then the
  // frames before it were passed on, the rest is dropped (pending() becomes 0), and the stream
  // must end. The payloads are valid until the next call to room() or take_frames().
  template <typename Frame>
  std::optional<OversizedFrame> take_frames(std::uint32_t max_payload, Frame&& frame) {
    std::size_t pos = 0;
    while (used_ - pos >= kFrameHeader) {
      const std::uint32_t len = load_le32(buf_.get() + pos);
      if (len > max_payload) {
        const OversizedFrame bad{len, used_ - pos};
        used_ = 0;
        return bad;
      }
      if (used_ - pos - kFrameHeader < len) break;  // incomplete: wait for more bytes
      frame(std::span<const std::byte>(buf_.get() + pos + kFrameHeader, len));
      pos += kFrameHeader + len;
    }
    // Keep the incomplete tail at the front; room() grows the buffer as more of it comes.
    if (pos > 0) std::memmove(buf_.get(), buf_.get() + pos, used_ - pos);
    used_ -= pos;
    return std::nullopt;
  }

  // Bytes of a frame not yet complete (after take_frames): lost if the stream ends now.
  std::size_t pending() const noexcept { return used_; }
  std::size_t capacity() const noexcept { return capacity_; }

  // After a frame larger than the initial buffer, its memory goes back once nothing is pending.
  void shrink() noexcept {
    if (used_ != 0 || capacity_ <= initial_) return;
    buf_.reset();
    capacity_ = 0;
  }

 private:
  void grow();  // cold: at the first read and when a frame outgrows the buffer

  std::unique_ptr<std::byte[]> buf_;  // empty until the peer sends
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::size_t initial_;
};

}  // namespace relay
