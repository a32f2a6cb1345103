// queue: the lock-free message log between the server thread and the client thread.
//
// Model (kept from the seed, see QUEUE.md beside this file for the full protocol and its proofs):
//   - one producer (the server thread) appends at the tail; every message gets an id one greater
//     than the previous one;
//   - every destination owns a cursor (cursor.hpp) — the id of the next message it will
//     write — that only moves forward;
//   - the background thread computes the reclaim point (the smallest live cursor) and recycles
//     every segment whose messages all lie before it.
// No mutex anywhere: the producer publishes with release stores, cursors read with acquire
// loads, the reclaimer and joining cursors meet through a hazard-style handshake on `head_id_`.
//
// Memory is bounded by `max_queue_bytes` (whole segments). The slow-destination policy is applied in
// Queue::reclaim (eviction floor) and Queue::append (drop when full); see QUEUE.md "Budget".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "cache_line.hpp"
#include "queue_config.hpp"
#include "segment.hpp"
#include "segment_pool.hpp"
#include "segment_store.hpp"
#include "thread_owner.hpp"

namespace relay {

enum class AppendStatus { ok, full };

// What one reclaim pass did, for logs and tests.
struct ReclaimResult {
  std::uint64_t reclaim_point = 0;  // smallest live cursor (or the tail when none)
  std::size_t segments_freed = 0;
  std::uint64_t floor = 0;  // current eviction floor
  bool floor_raised = false;
};

// Point-in-time figures; every field read with relaxed/acquire loads, no lock.
struct QueueStats {
  std::uint64_t tail = 0;           // id the next message will get (= messages appended)
  std::uint64_t head = 0;           // oldest id still readable
  std::uint64_t items = 0;          // messages held: tail - head
  std::uint64_t reclaim_point = 0;  // as of the last reclaim pass
  std::size_t segments_in_use = 0;  // linked into the queue
  std::size_t bytes_in_use = 0;     // segments in memory * segment size (with a data dir: the resident ones)
  std::size_t max_queue_bytes = 0;
  std::uint64_t evictions = 0;  // times the floor was raised
  // With a data directory (0 without): segment files in use and their budget.
  std::size_t disk_bytes_in_use = 0;
  std::size_t max_disk_bytes = 0;
  std::uint64_t sync_errors = 0;         // msync calls that failed (the disk refused a write-back)
  std::uint64_t recovered_messages = 0;  // found in the data directory at start-up
  std::uint64_t damaged_messages = 0;    // lost at start-up to batches that failed their checksum
};

class Cursor;

class Queue {
 public:
  explicit Queue(QueueConfig cfg = {});
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  const QueueConfig& config() const noexcept { return cfg_; }

  // Called when the queue needs another thread to act: `on_pressure` (producer, or a cursor that
  // skipped ahead → background: run reclaim now), `on_floor` (background → client: cursors must
  // move past the floor). Set before any thread starts; each must be cheap and
  // thread-safe (an ev_async_send).
  void set_hooks(std::function<void()> on_pressure, std::function<void()> on_floor);

  // ---- producer (one thread only) ----
  // Copies one message in; it becomes visible to cursors at the next publish().
  // Returns full when no segment can be had within the budget (the message is not stored).
  // Precondition: payload.size() <= max_message.
  AppendStatus append(std::span<const std::byte> payload, std::int64_t now_ns);
  // Makes everything appended so far visible: one release store per batch, not per message.
  void publish() noexcept;
  // The producing thread has been joined; the joining thread may produce from now on.
  void hand_over_producer() noexcept { prod_.owner.hand_over(); }

  // ---- any thread ----
  std::uint64_t tail() const noexcept;
  QueueStats stats() const noexcept;
  bool durable() const noexcept { return store_ != nullptr; }
  // What start-up recovered from the data directory (all zero without one). Immutable.
  const RecoveryReport& recovery() const noexcept { return recovery_; }

  // ---- reclaimer (the background thread; one thread only) ----
  ReclaimResult reclaim();
  // The reclaiming thread has been joined; the joining thread may reclaim (and sync) from now on.
  void hand_over_reclaimer() noexcept { reclaimer_.hand_over(); }
  // With a data directory. Every destination's position before `id` is recorded on disk: the
  // reclaimer may free segments up to there, not beyond, so a restart never finds a recorded
  // position in messages already freed (QUEUE.md "Recovery"). Until the first call nothing is
  // freed.
  void set_checkpoint(std::uint64_t id) noexcept;
  // With a data directory: writes back what was published since the last call and waits for
  // the disk (--fsync interval). Returns 0, or the errno of the first segment that failed (also
  // counted in sync_errors).
  int sync_to_disk();
  // With a data directory: drops the pages of segments older than the newest resident ones
  // (--max-queue-bytes) from relayd's memory, again those a lagging destination read back in.
  void evict_cold();

 private:
  friend class Cursor;
  // One cursor's published position, alone on its cache line: each cursor's thread writes its
  // own slot on every advance while the reclaimer reads them all.
  struct alignas(kCacheLine) Slot {
    std::atomic<std::uint64_t> id;
  };
  static_assert(sizeof(Slot) == kCacheLine);
  // A cursor publishes a position key, not its bare id: 2*id, plus 1 when the cursor stands at
  // the first message of its current segment (it no longer reads the previous segment). A
  // cursor at the end of a sealed segment has the same id as the successor's first message but
  // still holds the sealed segment; the low bit tells the two apart (QUEUE.md "Reclaim").
  static constexpr std::uint64_t position_key(std::uint64_t id, bool at_segment_start) noexcept {
    return (id << 1) | (at_segment_start ? 1U : 0U);
  }
  static constexpr std::uint64_t kFree = ~std::uint64_t{0};
  static constexpr std::uint64_t kReserved = kFree - 1;  // taken, protects nothing yet

  Segment* next_segment();
  void add_mark(std::int64_t now_ns);
  std::uint64_t min_cursor(std::uint64_t none_value) const noexcept;
  std::size_t reserve_slot();
  void free_segments(std::uint64_t limit_key);
  bool raise_floor_if_needed();
  std::size_t segments_in_use() const noexcept;
  void resume(Recovery recovered);
  void evict_segments(bool again);
  void evict_newly_cold() { evict_segments(false); }
  void prefetch_slowest();
  void commit_to_file() noexcept;

  const QueueConfig cfg_;
  const std::size_t max_segments_;       // the budget: memory, or with a data dir the disk
  const std::size_t resident_segments_;  // kept in memory; = max_segments_ without a data dir
  std::unique_ptr<SegmentStore> store_;  // null without a data dir; before pool_, which uses it
  RecoveryReport recovery_;

  // Producer-private state (own cache line: written on every append).
  struct alignas(kCacheLine) Producer {
    Segment* seg = nullptr;
    Committed pending;  // written but not yet published
    std::uint64_t next_id = 0;
    std::int64_t last_mark_ns = 0;
    std::size_t allocated = 0;  // segments ever mapped (never above max_segments_)
    bool full = false;          // inside a run of dropped appends
    // Segment files only (segment_file.hpp): the part of `pending` covered by commit entries,
    // the entries written, and the bytes kept free at the data area's end for them and the next
    // one (0 for a segment in memory).
    Committed filed;
    std::uint32_t entries = 0;
    std::uint32_t reserve = 0;
    ThreadOwner owner;  // debug check of the single-producer rule
  } prod_;
  static_assert(sizeof(Producer) % kCacheLine == 0, "nothing another thread writes shares its line");

  // Published tail: release by the producer in publish(); readers acquire.
  alignas(kCacheLine) std::atomic<std::uint64_t> tail_id_{0};
  // Segments allocated, read by stats(); written by producer.
  std::atomic<std::size_t> allocated_{0};

  // Oldest readable position, published by the reclaimer (seq_cst, see QUEUE.md "Joining").
  alignas(kCacheLine) std::atomic<Segment*> head_seg_{nullptr};
  std::atomic<std::uint64_t> head_id_{0};
  // Eviction floor: cursors below it must skip ahead to it (release by reclaimer, acquire by cursors).
  std::atomic<std::uint64_t> floor_id_{0};
  std::atomic<std::uint64_t> last_reclaim_point_{0};
  std::atomic<std::uint64_t> evictions_{0};
  std::atomic<std::size_t> linked_{1};  // segments linked (head..tail), written by both sides below

  // With a data dir: the reclaim point may not pass the recorded positions (set_checkpoint).
  std::atomic<std::uint64_t> checkpoint_id_{UINT64_MAX};
  std::atomic<std::uint64_t> sync_errors_{0};

  // Reclaimer-private: the oldest segment not yet recycled (may precede head_seg_).
  Segment* oldest_ = nullptr;
  std::uint64_t synced_id_ = 0;      // messages before it are written back (sync_to_disk)
  std::uint64_t evicted_below_ = 0;  // segments before it were evicted since they went cold
  ThreadOwner reclaimer_;            // debug check: one reclaiming thread

  std::unique_ptr<Slot[]> slots_;
  SegmentPool pool_;
  std::function<void()> on_pressure_;
  std::function<void()> on_floor_;
};

}  // namespace relay
