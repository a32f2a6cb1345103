#include "cursor.hpp"

#include <cstdint>
#include <cstring>

#include "check.hpp"

namespace relay {

namespace {

std::uint32_t read_length(const std::byte* at) noexcept {
  std::uint8_t le[4];
  std::memcpy(le, at, sizeof le);
  return std::uint32_t{le[0]} | std::uint32_t{le[1]} << 8 | std::uint32_t{le[2]} << 16 | std::uint32_t{le[3]} << 24;
}

}  // namespace

// Joining (QUEUE.md "Joining"): publish a candidate id in our slot, then check the reclaimer has
// not moved the head past it meanwhile. Once the check passes, no segment at or after the
// candidate can be recycled while the slot holds it.
Cursor::Cursor(Queue& queue, StartAt start) : queue_(queue), slot_(queue.reserve_slot()) {
  auto& slot = queue_.slots_[slot_].id;
  std::uint64_t h = 0;
  do {
    // seq_cst (load, store, load): the store must be globally ordered between the two loads so
    // that either the reclaimer's second scan sees the slot or we see its new head_id_.
    h = queue_.head_id_.load(std::memory_order_seq_cst);
    slot.store(Queue::position_key(h, true), std::memory_order_seq_cst);
  } while (queue_.head_id_.load(std::memory_order_seq_cst) != h);
  // seq_cst: ordered after the check above; may already be a later head, which is safe.
  seg_ = queue_.head_seg_.load(std::memory_order_seq_cst);
  id_ = seg_->first_id;
  if (start == StartAt::tail) {
    // Walk to the newest segment; every segment from here on is protected by the slot.
    // acquire: pairs with the producer's link.
    while (Segment* n = seg_->next.load(std::memory_order_acquire)) seg_ = n;
    // acquire: pairs with publish(); the position is the published end of the tail segment.
    const auto end = Committed::unpack(seg_->committed.load(std::memory_order_acquire));
    id_ = seg_->first_id + end.count;
    index_ = end.count;
    offset_ = end.bytes;
  }
  publish_position();
}

Cursor::~Cursor() {
  // release: our last reads of segment memory happen before the reclaimer sees the slot free.
  queue_.slots_[slot_].id.store(Queue::kFree, std::memory_order_release);
}

void Cursor::publish_position() noexcept {
  // release: every read of the memory before id_ happens before the reclaimer (which loads the
  // slot seq_cst) recycles it.
  queue_.slots_[slot_].id.store(Queue::position_key(id_, index_ == 0), std::memory_order_release);
}

std::uint64_t Cursor::lag() const noexcept {
  const std::uint64_t tail = queue_.tail();
  return tail > id_ ? tail - id_ : 0;
}

// Moves to the successor once the current segment is read to its end and sealed.
bool Cursor::step_segment() {
  // acquire: pairs with the producer's release of `next`, made after its last write here.
  Segment* n = seg_->next.load(std::memory_order_acquire);
  if (n == nullptr) return false;
  // acquire: re-read after seeing `next`; the producer published its final count before linking.
  const auto end = Committed::unpack(seg_->committed.load(std::memory_order_acquire));
  if (index_ < end.count) return true;  // more messages appeared in this segment: read them first
  seg_ = n;
  index_ = 0;
  offset_ = 0;
  return true;
}

std::size_t Cursor::peek(std::span<MessageView> out) {
  std::size_t n = 0;
  Segment* seg = seg_;
  std::uint32_t index = index_;
  std::uint32_t offset = offset_;
  while (n < out.size()) {
    // acquire: pairs with publish(); records up to `end` are fully written.
    const auto end = Committed::unpack(seg->committed.load(std::memory_order_acquire));
    while (index < end.count && n < out.size()) {
      const std::uint32_t size = read_length(seg->data + offset);
      out[n++] = MessageView{seg->data + offset + kRecordHeader, size};
      offset += static_cast<std::uint32_t>(kRecordHeader) + size;
      ++index;
    }
    if (n == out.size()) break;
    // acquire: see step_segment().
    Segment* next = seg->next.load(std::memory_order_acquire);
    if (next == nullptr) break;
    // acquire: the sealed segment's final count, published before `next` was linked.
    if (index < Committed::unpack(seg->committed.load(std::memory_order_acquire)).count) continue;
    seg = next;
    index = 0;
    offset = 0;
  }
  peeked_ = n;
  return n;
}

// True when `p` (the end of a record) lies in the current segment. Compared as integers: the
// segments are separate mappings, which C++ pointer ordering does not relate.
bool Cursor::holds(const std::byte* p) const noexcept {
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  const auto base = reinterpret_cast<std::uintptr_t>(seg_->data);
  return at > base && at <= base + seg_->capacity;
}

void Cursor::advance(std::span<const MessageView> passed) {
  RELAY_ASSERT(passed.size() <= peeked_, "advance() past what the last peek() returned");
  peeked_ = 0;
  if (!passed.empty()) {
    const MessageView& last = passed.back();
    const std::byte* end = last.payload + last.size;
    std::size_t left = passed.size();
    // The views may run into later segments (peek() crosses them); whole segments passed on the
    // way are skipped by their sealed counts.
    while (!holds(end)) {
      // acquire: as in peek(); a segment with a successor is sealed, its count final.
      const auto sealed = Committed::unpack(seg_->committed.load(std::memory_order_acquire));
      RELAY_ASSERT(sealed.count - index_ <= left, "advance() past what peek() returned");
      left -= sealed.count - index_;
      // acquire: pairs with the producer's link; non-null since a view lies beyond this segment.
      seg_ = seg_->next.load(std::memory_order_acquire);
      index_ = 0;
    }
    index_ += static_cast<std::uint32_t>(left);
    offset_ = static_cast<std::uint32_t>(end - seg_->data);
    id_ += passed.size();
  }
  // Step off a sealed segment now, so the reclaimer can free it without waiting for more data.
  // acquire: as in peek().
  if (index_ >= Committed::unpack(seg_->committed.load(std::memory_order_acquire)).count) step_segment();
  publish_position();
}

std::uint64_t Cursor::skip_to_floor() {
  // acquire: pairs with the reclaimer's release; segments up to the floor are linked.
  const std::uint64_t floor = queue_.floor_id_.load(std::memory_order_acquire);
  if (floor <= id_) return 0;
  // Segments from ours onwards are protected by our slot, so walking `next` is safe.
  // acquire: pairs with the producer's link.
  for (Segment* n = seg_->next.load(std::memory_order_acquire); n != nullptr && n->first_id <= floor;
       n = seg_->next.load(std::memory_order_acquire)) {
    seg_ = n;
  }
  // The floor is always a segment's first id (Queue::raise_floor_if_needed).
  const std::uint64_t skipped = floor - id_;
  peeked_ = 0;
  id_ = floor;
  index_ = 0;
  offset_ = 0;
  publish_position();
  // The reclaimer can now recycle what we skipped: ask for a pass instead of waiting for its tick.
  if (queue_.on_pressure_) queue_.on_pressure_();
  return skipped;
}

void Cursor::move_to(const Position& p) noexcept {
  seg_ = p.seg;
  offset_ = p.offset;
  index_ = p.index;
  id_ = p.id;
  peeked_ = 0;
  publish_position();
}

std::uint64_t Cursor::walk_to(std::uint64_t target) {
  // Segments from ours onwards are protected by our slot, so walking `next` is safe.
  // acquire: pairs with the producer's link.
  for (Segment* n = seg_->next.load(std::memory_order_acquire); n != nullptr && n->first_id <= target;
       n = seg_->next.load(std::memory_order_acquire)) {
    seg_ = n;
    id_ = n->first_id;
    index_ = 0;
    offset_ = 0;
  }
  // acquire: pairs with publish(); records up to the count are written.
  const auto end = Committed::unpack(seg_->committed.load(std::memory_order_acquire));
  while (id_ < target && index_ < end.count) {
    offset_ += static_cast<std::uint32_t>(kRecordHeader) + read_length(seg_->data + offset_);
    ++index_;
    ++id_;
  }
  peeked_ = 0;
  publish_position();
  return id_;
}

bool Cursor::below_floor() const noexcept {
  // acquire: as in skip_to_floor().
  return queue_.floor_id_.load(std::memory_order_acquire) > id_;
}

std::int64_t Cursor::lag_since_ns() const {
  if (id_ >= queue_.tail()) return 0;
  // acquire: pairs with add_mark(); entries below the count are written.
  const std::uint32_t n = seg_->mark_count.load(std::memory_order_acquire);
  std::int64_t ns = 0;
  for (std::uint32_t i = 0; i < n && seg_->marks[i].id <= id_; ++i) ns = seg_->marks[i].ns;
  if (ns != 0) return ns;
  // Cursor at the very end of a sealed segment: its message is the next segment's first.
  // acquire: pairs with the producer's link.
  const Segment* next = seg_->next.load(std::memory_order_acquire);
  if (next != nullptr && next->mark_count.load(std::memory_order_acquire) > 0) return next->marks[0].ns;
  return 0;
}

}  // namespace relay
