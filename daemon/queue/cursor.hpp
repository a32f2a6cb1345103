// cursor: one destination's position in the queue.
//
// The cursor's id is the next message its destination has not yet fully written. It only moves
// forward: by advance() after a write, or by skip_to_floor() when the queue budget forces a
// lagging destination past the oldest data. Its current value is published in a queue slot that
// the reclaimer reads to compute the reclaim point.
//
// Thread: owned by one consumer thread (the client thread in relayd). The slot is the only part
// other threads read. Joining and leaving follow the protocol in daemon/QUEUE.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "queue.hpp"
#include "start_at.hpp"

namespace relay {

// A message as seen by a cursor: the payload in queue memory. The 4-byte lp32le length header
// sits immediately before `payload` (see segment.hpp), so consecutive views in one segment are
// contiguous on the wire when framed as lp32le.
struct MessageView {
  const std::byte* payload = nullptr;
  std::uint32_t size = 0;
  const std::byte* record() const noexcept { return payload - kRecordHeader; }
  std::size_t record_size() const noexcept { return size + kRecordHeader; }
};

class Cursor {
 public:
  // Where a cursor stands, to come back to or catch up with (move_to below).
  struct Position {
    Segment* seg = nullptr;
    std::uint32_t offset = 0;
    std::uint32_t index = 0;
    std::uint64_t id = 0;
  };

  // Joins the queue; throws std::length_error when every slot is taken.
  Cursor(Queue& queue, StartAt start);
  ~Cursor();
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  std::uint64_t id() const noexcept { return id_; }
  std::uint64_t lag() const noexcept;  // tail minus cursor

  // Fills `out` with consecutive published messages starting at the cursor; returns how many.
  // Does not move the cursor.
  std::size_t peek(std::span<MessageView> out);
  // Moves past `passed`: the first views of the last peek(), in order. The new position comes
  // from the last view's place in queue memory, so no message is read again.
  void advance(std::span<const MessageView> passed);
  // If the queue's eviction floor is above the cursor, jumps to it and returns the number of
  // messages skipped (the caller counts them as dropped_lagging); else returns 0.
  std::uint64_t skip_to_floor();
  // Takes `other`'s position, forward or back: a destination's write cursor rewound to its
  // acknowledged one after a lost connection, or the acknowledged one moved up to the write
  // cursor. Both cursors must belong to this thread and `other` must stay joined meanwhile: its
  // slot already holds the position, so the reclaimer cannot have freed anything at or after it.
  void move_to(const Cursor& other) noexcept { move_to(other.position()); }
  // The same for a position another cursor of this thread passed and still holds (the position
  // lies at or after its published one): an acknowledged cursor catching up with where its
  // write cursor was after a write.
  void move_to(const Position& p) noexcept;
  Position position() const noexcept { return {seg_, offset_, index_, id_}; }
  // Moves forward to message `id` (a position recorded before a restart), or to the tail when
  // `id` lies beyond it; a cursor already at or past `id` stays. Returns the id it stands at.
  std::uint64_t walk_to(std::uint64_t id);
  // True when skip_to_floor() would move the cursor.
  bool below_floor() const noexcept;
  // Receive time (steady ns) of the oldest message this cursor has not passed, or 0 when the
  // cursor is at the tail. Resolution: one millisecond at high rates (see Segment::marks).
  std::int64_t lag_since_ns() const;

 private:
  void publish_position() noexcept;
  bool step_segment();                            // moves to the next segment when the current one is exhausted
  bool holds(const std::byte* p) const noexcept;  // p lies in the current segment's records

  Queue& queue_;
  std::size_t slot_;
  Segment* seg_ = nullptr;
  std::uint32_t offset_ = 0;  // byte offset of message id_ in seg_
  std::uint32_t index_ = 0;   // index of message id_ in seg_
  std::uint64_t id_ = 0;
  std::size_t peeked_ = 0;  // views the last peek() returned: the most advance() may pass
};

}  // namespace relay
