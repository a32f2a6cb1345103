// frame_batch: how a batch of queued messages becomes the iovecs of one writev/sendmsg.
//
// lp32le needs no copying at all: queue records are already in that format, and consecutive
// records of a segment are merged into one iovec, so a run of up to kMaxMessages messages from
// one segment goes out as a single contiguous range. The other framings interleave small pieces (a big-endian header,
// a '\n') with payloads. Small payloads and those pieces are copied into a staging buffer, so
// a run of small messages is one iovec too: the kernel's per-iovec work (import, checks, one
// copy call each) cost more than a user-space memcpy of 64 bytes. Payloads of kCopyBelow bytes
// or more are sent straight from queue memory.
//
// Thread: used by the client thread; a FrameBatch is reused across writes, no allocation per write.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "cursor.hpp"
#include "endpoint.hpp"
#include "queue.hpp"

namespace relay {

class FrameBatch {
 public:
  static constexpr std::size_t kMaxIov = 1024;       // IOV_MAX on Linux
  static constexpr std::size_t kMaxMessages = 1024;  // messages framed per build
  static constexpr std::size_t kStageBytes = 64 * 1024;
  static constexpr std::size_t kCopyBelow = 256;

  // Frames as many of `msgs` (at most kMaxMessages) as fit in kMaxIov iovecs, skipping the first
  // `skip` bytes of the first message (already written on this connection). Returns the number
  // of messages framed.
  std::size_t build(Framing f, std::span<const MessageView> msgs, std::size_t skip);
  // The bytes `m` takes on the wire under `f`: what build() frames for it.
  static std::size_t framed_size(Framing f, const MessageView& m) noexcept;
  // Appends `m` framed under `f` to `out`, the same bytes build() frames for it, from the payload
  // alone (a copy that does not lie in queue memory: a group member's buffer).
  static void append_framed(Framing f, const MessageView& m, std::string& out);

  iovec* iov() noexcept { return iov_.data(); }
  std::size_t iov_count() const noexcept { return count_; }
  std::size_t bytes() const noexcept { return bytes_; }  // in the iovecs, after the skip
  // Where each framed message ends, in bytes from the start of the first one (the skip
  // included): what a write's byte count is matched against, so no message is walked again.
  std::span<const std::size_t> ends() const noexcept { return std::span(ends_.data(), framed_); }

 private:
  bool frame(Framing f, const MessageView& m);
  void add(const void* base, std::size_t len);
  void stage(const void* base, std::size_t len);
  void add_payload(const MessageView& m);
  void trim_front(std::size_t skip);

  std::array<iovec, kMaxIov> iov_{};
  std::array<std::size_t, kMaxMessages> ends_{};
  std::size_t framed_ = 0;
  std::array<std::byte, kStageBytes> stage_{};
  std::size_t staged_ = 0;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace relay
