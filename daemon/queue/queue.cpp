#include "queue.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "check.hpp"
#include "segment_file.hpp"

namespace relay {

namespace {

std::size_t segment_count(const QueueConfig& cfg) {
  if (cfg.segment_bytes < kRecordHeader + cfg.max_message)
    throw std::invalid_argument("queue segment smaller than the largest message");
  // At least three segments: the tail being filled, one being read, one being recycled.
  return std::max<std::size_t>(3, cfg.max_queue_bytes / cfg.segment_bytes);
}

// With a data dir the budget is the disk's: what its segment files may take.
std::size_t budget_segments(const QueueConfig& cfg) {
  if (cfg.data_dir.empty()) return segment_count(cfg);
  return std::max<std::size_t>(
      {3, segment_count(cfg), cfg.max_disk_bytes / segment_file::file_bytes(cfg.segment_bytes)});
}

std::unique_ptr<SegmentStore> open_store(const QueueConfig& cfg) {
  return cfg.data_dir.empty() ? nullptr : std::make_unique<SegmentStore>(cfg.data_dir, cfg.segment_bytes);
}

void write_header(std::byte* at, std::uint32_t size) {
  const std::uint8_t le[4] = {static_cast<std::uint8_t>(size), static_cast<std::uint8_t>(size >> 8),
                              static_cast<std::uint8_t>(size >> 16), static_cast<std::uint8_t>(size >> 24)};
  std::memcpy(at, le, sizeof le);
}

}  // namespace

Queue::Queue(QueueConfig cfg)
    : cfg_(cfg),
      max_segments_(budget_segments(cfg)),
      resident_segments_(segment_count(cfg)),
      store_(open_store(cfg)),
      slots_(new Slot[cfg.max_cursors]),
      pool_(cfg.segment_bytes, max_segments_, store_.get(), resident_segments_) {
  // relaxed (all stores here): no other thread exists yet; thread start-up publishes everything.
  for (std::size_t i = 0; i < cfg_.max_cursors; ++i) slots_[i].id.store(kFree, std::memory_order_relaxed);
  Recovery recovered;
  if (store_) {
    recovered = store_->recover(max_segments_);
    checkpoint_id_.store(0, std::memory_order_relaxed);  // nothing recorded yet: free nothing
  }
  resume(std::move(recovered));
}

// The queue as start-up finds it: the recovered segments (none without a data dir), then a
// fresh segment for the producer at the recovered tail. Called from the constructor only, so
// every atomic store below is relaxed: no other thread exists yet, and starting one publishes
// all of it.
void Queue::resume(Recovery recovered) {
  recovery_ = recovered.report;
  Segment* oldest = recovered.chain.empty() ? nullptr : recovered.chain.front().get();
  Segment* newest = recovered.chain.empty() ? nullptr : recovered.chain.back().get();
  const std::size_t linked = recovered.chain.size();
  pool_.adopt(std::move(recovered.chain), std::move(recovered.spare));
  Segment* first = pool_.take();
  if (first == nullptr) throw std::bad_alloc();
  first->reset(recovery_.tail);
  if (first->file != nullptr) {
    segment_file::stamp(*first);
    prod_.reserve = segment_file::kEntryBytes;
  }
  if (newest != nullptr) newest->next.store(first, std::memory_order_relaxed);
  prod_.seg = first;
  prod_.next_id = recovery_.tail;
  oldest_ = oldest != nullptr ? oldest : first;
  linked_.store(linked + 1, std::memory_order_relaxed);
  head_seg_.store(oldest_, std::memory_order_relaxed);
  head_id_.store(oldest_->first_id, std::memory_order_relaxed);
  tail_id_.store(recovery_.tail, std::memory_order_relaxed);
  synced_id_ = evicted_below_ = recovery_.tail;
}

Queue::~Queue() = default;

void Queue::set_hooks(std::function<void()> on_pressure, std::function<void()> on_floor) {
  on_pressure_ = std::move(on_pressure);
  on_floor_ = std::move(on_floor);
}

// ---------------------------------------------------------------- producer

AppendStatus Queue::append(std::span<const std::byte> payload, std::int64_t now_ns) {
  RELAY_ASSERT(prod_.owner.held_by_caller(), "the queue has one producer thread");
  RELAY_ASSERT(payload.size() <= cfg_.max_message, "append() takes messages up to max_message only");
  const auto size = static_cast<std::uint32_t>(payload.size());
  const std::uint32_t need = static_cast<std::uint32_t>(kRecordHeader) + size;
  if (prod_.pending.bytes + need + prod_.reserve > prod_.seg->capacity) {
    Segment* fresh = next_segment();
    if (fresh == nullptr) return AppendStatus::full;
  }
  std::byte* at = prod_.seg->data + prod_.pending.bytes;
  write_header(at, size);
  if (size != 0) std::memcpy(at + kRecordHeader, payload.data(), size);
  if (now_ns - prod_.last_mark_ns >= 1'000'000) add_mark(now_ns);
  prod_.pending.bytes += need;
  prod_.pending.count += 1;
  prod_.next_id += 1;
  return AppendStatus::ok;
}

void Queue::add_mark(std::int64_t now_ns) {
  Segment* seg = prod_.seg;
  // relaxed: only the producer writes mark_count.
  const std::uint32_t n = seg->mark_count.load(std::memory_order_relaxed);
  if (n == Segment::kMaxMarks) return;
  seg->marks[n] = TimeMark{prod_.next_id, now_ns};
  // release: a reader that sees the count sees the entry.
  seg->mark_count.store(n + 1, std::memory_order_release);
  prod_.last_mark_ns = now_ns;
}

void Queue::publish() noexcept {
  RELAY_ASSERT(prod_.owner.held_by_caller(), "the queue has one producer thread");
  if (prod_.seg->file != nullptr) commit_to_file();
  // release: every record written before this store is visible to a cursor that acquires it.
  prod_.seg->committed.store(prod_.pending.pack(), std::memory_order_release);
  // release: readers of the tail (lag, stats) see a count no larger than what is readable.
  tail_id_.store(prod_.next_id, std::memory_order_release);
}

// One commit entry for the records appended since the last one (segment_file.hpp), before
// destinations can see them; with --fsync always, written back before they can.
void Queue::commit_to_file() noexcept {
  if (prod_.pending.count == prod_.filed.count) return;
  segment_file::commit(*prod_.seg, prod_.entries, prod_.filed, prod_.pending);
  ++prod_.entries;
  prod_.reserve += segment_file::kEntryBytes;
  prod_.filed = prod_.pending;
  if (cfg_.fsync == Fsync::always && segment_file::sync(*prod_.seg) != 0)
    sync_errors_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
}

// Links a fresh segment after the current one. Returns nullptr (and asks the reclaimer for
// room) when the budget is spent: the caller drops the message — the producer never waits.
Segment* Queue::next_segment() {
  Segment* fresh = pool_.take();
  if (fresh == nullptr) {
    if (!prod_.full && on_pressure_) on_pressure_();
    prod_.full = true;
    return nullptr;
  }
  prod_.full = false;
  publish();  // the old segment's final state, before anyone can see its successor
  fresh->reset(prod_.next_id);
  if (fresh->file != nullptr) {
    segment_file::stamp(*fresh);
    prod_.reserve = segment_file::kEntryBytes;
  }
  prod_.filed = {};
  prod_.entries = 0;
  // relaxed RMW: a statistic shared with the reclaimer's decrement; atomicity is all it needs.
  linked_.fetch_add(1, std::memory_order_relaxed);
  // release: a cursor that reads `next` sees the fresh segment's reset header, and (by the
  // publish above) the old segment's final committed value.
  prod_.seg->next.store(fresh, std::memory_order_release);
  prod_.seg = fresh;
  prod_.pending = {};
  prod_.last_mark_ns = 0;  // first message of every segment gets a mark
  // Ask for an early reclaim pass when close to the budget, so eviction happens before drops.
  if (segments_in_use() + 2 >= max_segments_ && on_pressure_) on_pressure_();
  return fresh;
}

// ---------------------------------------------------------------- any thread

std::uint64_t Queue::tail() const noexcept {
  // acquire: pairs with publish(); callers compare it with cursor positions.
  return tail_id_.load(std::memory_order_acquire);
}

std::size_t Queue::segments_in_use() const noexcept {
  // relaxed: a sizing statistic.
  return linked_.load(std::memory_order_relaxed);
}

QueueStats Queue::stats() const noexcept {
  QueueStats s;
  s.tail = tail();
  // relaxed: statistics; each value is individually current enough for reporting.
  s.head = head_id_.load(std::memory_order_relaxed);
  s.items = s.tail > s.head ? s.tail - s.head : 0;
  s.reclaim_point = last_reclaim_point_.load(std::memory_order_relaxed);
  s.segments_in_use = segments_in_use();
  s.bytes_in_use = std::min(s.segments_in_use, resident_segments_) * cfg_.segment_bytes;
  s.max_queue_bytes = resident_segments_ * cfg_.segment_bytes;
  s.evictions = evictions_.load(std::memory_order_relaxed);
  if (store_) {
    s.disk_bytes_in_use = s.segments_in_use * segment_file::file_bytes(cfg_.segment_bytes);
    s.max_disk_bytes = max_segments_ * segment_file::file_bytes(cfg_.segment_bytes);
    s.sync_errors = sync_errors_.load(std::memory_order_relaxed);
    s.recovered_messages = recovery_.messages;
    s.damaged_messages = recovery_.corrupt_messages;
  }
  return s;
}

// ---------------------------------------------------------------- reclaimer

std::uint64_t Queue::min_cursor(std::uint64_t none_value) const noexcept {
  // Slots hold position keys (see position_key); kReserved/kFree are above every key.
  std::uint64_t lowest = none_value;
  for (std::size_t i = 0; i < cfg_.max_cursors; ++i) {
    // seq_cst: the joining handshake (QUEUE.md "Joining") needs this load ordered after the
    // reclaimer's head_id_ store; it also acquires the cursor's reads of segment memory.
    const std::uint64_t id = slots_[i].id.load(std::memory_order_seq_cst);
    if (id < kReserved) lowest = std::min(lowest, id);
  }
  return lowest;
}

std::size_t Queue::reserve_slot() {
  for (std::size_t i = 0; i < cfg_.max_cursors; ++i) {
    std::uint64_t expected = kFree;
    // acq_rel: taking a slot must not be reordered with the previous owner's release of it.
    if (slots_[i].id.compare_exchange_strong(expected, kReserved, std::memory_order_acq_rel)) return i;
  }
  throw std::length_error("no free cursor slot");
}

ReclaimResult Queue::reclaim() {
  RELAY_ASSERT(reclaimer_.held_by_caller(), "the queue has one reclaiming thread");
  ReclaimResult r;
  r.floor_raised = raise_floor_if_needed();
  // With a data dir the recorded positions count as one more cursor (set_checkpoint): the head
  // may not pass them, so a destination resumed at its recorded position still finds it.
  // relaxed: written by this thread (set_checkpoint); UINT64_MAX without a data dir.
  const std::uint64_t recorded = checkpoint_id_.load(std::memory_order_relaxed);
  const std::uint64_t none =
      std::min(position_key(tail(), true), recorded == UINT64_MAX ? kReserved : position_key(recorded, true));
  const std::uint64_t k1 = min_cursor(none);
  const std::uint64_t r1 = k1 >> 1;
  // relaxed: only this thread writes head_seg_.
  Segment* head = head_seg_.load(std::memory_order_relaxed);
  // acquire on next: pairs with the producer's link; its first_id is then visible.
  for (Segment* n = head->next.load(std::memory_order_acquire); n != nullptr && n->first_id <= r1;
       n = head->next.load(std::memory_order_acquire)) {
    head = n;
  }
  // seq_cst (both): announce the new oldest readable position before the second scan below.
  head_seg_.store(head, std::memory_order_seq_cst);
  head_id_.store(head->first_id, std::memory_order_seq_cst);
  const std::uint64_t k2 = min_cursor(none);
  const std::size_t before = segments_in_use();
  pool_.plan_pass();
  free_segments(std::min(k1, k2));
  if (store_) {
    evict_newly_cold();
    prefetch_slowest();
  }
  r.segments_freed = before - segments_in_use();
  r.reclaim_point = r1;
  // relaxed: statistics.
  last_reclaim_point_.store(r1, std::memory_order_relaxed);
  r.floor = floor_id_.load(std::memory_order_relaxed);
  return r;
}

void Queue::set_checkpoint(std::uint64_t id) noexcept {
  // relaxed: read by this same (reclaimer) thread in reclaim().
  checkpoint_id_.store(id, std::memory_order_relaxed);
}

int Queue::sync_to_disk() {
  RELAY_ASSERT(reclaimer_.held_by_caller(), "the queue has one reclaiming thread");
  if (!store_) return 0;
  const std::uint64_t tail_now = tail();
  int first_error = 0;
  // Segments from oldest_ on are recycled by this thread only, so the walk is safe.
  for (Segment* s = oldest_; s != nullptr;) {
    // acquire: pairs with the producer's link; a linked successor's first_id is visible.
    Segment* n = s->next.load(std::memory_order_acquire);
    if (n == nullptr || n->first_id > synced_id_) {
      if (const int rc = segment_file::sync(*s); rc != 0) {
        sync_errors_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        if (first_error == 0) first_error = rc;
      }
    }
    s = n;
  }
  if (first_error == 0) synced_id_ = tail_now;
  return first_error;
}

void Queue::evict_cold() {
  RELAY_ASSERT(reclaimer_.held_by_caller(), "the queue has one reclaiming thread");
  if (store_) evict_segments(true);
}

// Segments beyond the newest resident ones leave relayd's memory (the page cache and the file
// keep them): each once as it goes cold, or every one again (`again`) for those a lagging
// destination faulted back in.
void Queue::evict_segments(bool again) {
  const std::size_t linked = segments_in_use();
  if (linked <= resident_segments_) return;
  std::size_t cold = linked - resident_segments_;
  // The slowest reader's two segments stay: prefetch_slowest() brought them in on purpose.
  // relaxed: head_seg_ is written by this thread only; acquire: pairs with the producer's link.
  const Segment* head = head_seg_.load(std::memory_order_relaxed);
  const Segment* after_head = head->next.load(std::memory_order_acquire);
  Segment* s = oldest_;
  for (; cold > 0; --cold) {
    // acquire: pairs with the producer's link; a segment with a successor is written no more.
    Segment* n = s->next.load(std::memory_order_acquire);
    if (n == nullptr) break;
    const bool reading = s == head || s == after_head;
    if (!reading && (again || s->first_id >= evicted_below_)) segment_file::evict(*s);
    s = n;
  }
  evicted_below_ = std::max(evicted_below_, s->first_id);
}

// A destination far behind reads segments that left memory: the one the slowest reader stands
// in and the next are read ahead (MADV_WILLNEED), so the client thread finds their pages in the
// page cache rather than waiting on the disk for each one while the other destinations wait too.
void Queue::prefetch_slowest() {
  if (segments_in_use() <= resident_segments_) return;  // every segment is in memory anyway
  // relaxed: head_seg_ is written by this thread only; acquire: pairs with the producer's link.
  const Segment* head = head_seg_.load(std::memory_order_relaxed);
  segment_file::prefetch(*head);
  if (const Segment* n = head->next.load(std::memory_order_acquire)) segment_file::prefetch(*n);
}

// Recycles segments from the oldest while every cursor has moved past all their messages.
void Queue::free_segments(std::uint64_t limit_key) {
  // relaxed: head_seg_ is written by this thread only.
  Segment* head = head_seg_.load(std::memory_order_relaxed);
  while (oldest_ != head) {
    // acquire: pairs with the producer's link of `next`.
    Segment* n = oldest_->next.load(std::memory_order_acquire);
    // A cursor whose id equals n->first_id but which has not stepped into n yet (key even)
    // still reads oldest_->next: only a key above n's "entered" key frees oldest_.
    if (position_key(n->first_id, false) >= limit_key) break;
    pool_.give(oldest_);
    // relaxed RMW: statistic, see next_segment().
    linked_.fetch_sub(1, std::memory_order_relaxed);
    oldest_ = n;
  }
}

// The slow-destination policy, part 1 (part 2 is the drop in next_segment()):
// when the segments in use come within 1/16 of the budget (at least one segment), raise the
// eviction floor to the first id of the segment that brings usage back to 7/8 of the budget (at
// least two segments free). Cursors below the floor skip to it
// (Cursor::skip_to_floor, counted as dropped_lagging by their destination), so a slow or dead
// destination costs the others nothing and the producer never blocks.
bool Queue::raise_floor_if_needed() {
  const std::size_t in_use = segments_in_use();
  const std::size_t high = max_segments_ - std::max<std::size_t>(1, max_segments_ / 16);
  if (in_use < high) return false;
  // After eviction at least two segments (or 1/8 of the budget) are free again: room for the
  // producer while the client thread moves cursors and the next pass recycles.
  const std::size_t keep = max_segments_ - std::max<std::size_t>(2, max_segments_ / 8);
  std::size_t drop = in_use > keep ? in_use - keep : 1;
  Segment* s = oldest_;
  for (; drop > 0; --drop) {
    // acquire: pairs with the producer's link.
    Segment* n = s->next.load(std::memory_order_acquire);
    if (n == nullptr) break;
    s = n;
  }
  // relaxed: only this thread writes floor_id_.
  if (s->first_id <= floor_id_.load(std::memory_order_relaxed)) return false;
  // release: cursors that see the floor may walk to it; segments up to it stay linked.
  floor_id_.store(s->first_id, std::memory_order_release);
  // relaxed: statistic.
  evictions_.fetch_add(1, std::memory_order_relaxed);
  if (on_floor_) on_floor_();
  return true;
}

}  // namespace relay
