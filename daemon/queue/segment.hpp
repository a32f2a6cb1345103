// segment: one large block of queue memory holding consecutive messages.
//
// Messages are appended into segments instead of being allocated one by one; a segment is
// reclaimed (and reused) whole once every cursor has passed its last message.
//
// Layout of the data area: records laid end to end, no padding,
//     [u32 payload length, little endian][payload bytes] [u32 len][payload] ...
// which is byte for byte the lp32le wire format, so a destination using lp32le framing sends a
// run of messages with one send() straight from queue memory.
//
// Ownership: the producer (server thread) writes records and the header fields; consumers read
// only what `committed` says is published. `first_id` is written before the segment is linked
// into the queue and never changes while it is linked.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "cache_line.hpp"

namespace relay {

inline constexpr std::size_t kRecordHeader = 4;

// Published position in a segment: record count in the high 32 bits, bytes in the low 32 bits.
// One 64-bit word so a reader sees a count and a byte offset that belong together.
struct Committed {
  std::uint32_t count = 0;
  std::uint32_t bytes = 0;
  static Committed unpack(std::uint64_t v) noexcept {
    return {static_cast<std::uint32_t>(v >> 32), static_cast<std::uint32_t>(v)};
  }
  std::uint64_t pack() const noexcept { return (std::uint64_t{count} << 32) | bytes; }
};

// A receive-time sample: message `id` was appended at `ns` (steady clock). A segment keeps at
// most one per millisecond, so a destination can tell how old its oldest pending message is.
struct TimeMark {
  std::uint64_t id = 0;
  std::int64_t ns = 0;
};

struct Segment {
  static constexpr std::size_t kMaxMarks = 128;

  // --- written by the producer before linking; read-only while linked ---
  std::uint64_t first_id = 0;
  std::byte* data = nullptr;  // mmap'd, `capacity` bytes
  std::uint32_t capacity = 0;
  // With a data directory: the whole mapping of the segment's file (header, commit table, then
  // `data`); nullptr for a segment in anonymous memory (segment_file.hpp).
  std::byte* file = nullptr;

  // --- published by the producer, read by cursors ---
  // release store by the producer after writing the records; acquire load by readers.
  alignas(kCacheLine) std::atomic<std::uint64_t> committed{0};
  // Set once, after the producer's last write to this segment (release), so a reader that
  // sees a successor also sees this segment's final `committed`.
  std::atomic<Segment*> next{nullptr};
  // Number of valid entries in `marks`; release after the entry is written.
  std::atomic<std::uint32_t> mark_count{0};
  TimeMark marks[kMaxMarks];

  // Resets header fields for reuse; only on a segment no reader can reach.
  void reset(std::uint64_t id) noexcept {
    first_id = id;
    // relaxed: the segment is private to the producer until linked with a release store.
    committed.store(0, std::memory_order_relaxed);
    next.store(nullptr, std::memory_order_relaxed);
    mark_count.store(0, std::memory_order_relaxed);
  }
};

// The protocol is lock-free only if these atomics are (no hidden lock on the data path).
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<Segment*>::is_always_lock_free);
static_assert(sizeof(Committed) == sizeof(std::uint64_t), "count and bytes pack into one atomic word");
// The producer rewrites `committed` on every publish: it starts its own cache line, away from
// the read-only header fields every cursor loads.
static_assert(alignof(Segment) == kCacheLine);
static_assert(kRecordHeader == sizeof(std::uint32_t), "records start with a u32 length (lp32le)");

}  // namespace relay
