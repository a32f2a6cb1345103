#include "segment_pool.hpp"

#include "segment_file.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <new>

namespace relay {

SegmentPool::SegmentPool(std::size_t segment_bytes, std::size_t max_segments, SegmentStore* store, std::size_t max_warm)
    : segment_bytes_(segment_bytes),
      max_segments_(max_segments),
      mask_(std::bit_ceil(max_segments) - 1),
      store_(store),
      max_warm_(max_warm == 0 ? max_segments : max_warm),
      ring_(new Segment*[mask_ + 1]) {
  all_.reserve(max_segments);
}

SegmentPool::~SegmentPool() {
  for (auto& seg : all_) {
    if (seg->file != nullptr)
      segment_file::unmap(*seg);
    else
      munmap(seg->data, seg->capacity);
  }
}

void SegmentPool::adopt(std::vector<std::unique_ptr<Segment>> linked, std::vector<std::unique_ptr<Segment>> spare) {
  // relaxed (all): start-up, before any other thread exists; thread start publishes it all.
  for (auto& seg : linked) all_.push_back(std::move(seg));
  std::size_t given = given_.load(std::memory_order_relaxed);
  for (auto& seg : spare) {
    if (all_.size() >= max_segments_) {  // over a budget that was made smaller: not used
      segment_file::unmap(*seg);
      continue;
    }
    ring_[given++ & mask_] = seg.get();
    all_.push_back(std::move(seg));
  }
  given_.store(given, std::memory_order_relaxed);
  allocated_.store(all_.size(), std::memory_order_relaxed);
}

Segment* SegmentPool::take() {
  // acquire pairs with the release in give(): the segment's reset state is visible.
  const std::size_t given = given_.load(std::memory_order_acquire);
  // relaxed: only this thread writes taken_.
  const std::size_t taken = taken_.load(std::memory_order_relaxed);
  if (taken != given) {
    Segment* seg = ring_[taken & mask_];
    // release: the reclaimer may reuse the ring slot only after we have read it.
    taken_.store(taken + 1, std::memory_order_release);
    return seg;
  }
  if (all_.size() >= max_segments_) return nullptr;
  auto seg = store_ != nullptr ? store_->create() : mapped();
  if (!seg) return nullptr;
  all_.push_back(std::move(seg));
  // relaxed: a statistic for readers; the segment itself is handed over via the queue's links.
  allocated_.store(all_.size(), std::memory_order_relaxed);
  return all_.back().get();
}

std::unique_ptr<Segment> SegmentPool::mapped() const {
  void* mem = mmap(nullptr, segment_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  auto seg = std::make_unique<Segment>();
  seg->data = static_cast<std::byte*>(mem);
  seg->capacity = static_cast<std::uint32_t>(segment_bytes_);
  return seg;
}

// The sizing rule and why it follows the producer: QUEUE.md "Warm spare".
void SegmentPool::plan_pass() {
  // relaxed (both): counts only; a stale value just sizes this pass's spare a little smaller.
  const std::size_t taken = taken_.load(std::memory_order_relaxed) + allocated_.load(std::memory_order_relaxed);
  const std::size_t wanted = 2 * (taken - taken_at_last_pass_);
  taken_at_last_pass_ = taken;
  const std::size_t cap = std::max(kMinWarmSpare, max_warm_ / 4);
  warm_ = std::clamp(std::max(wanted, warm_ - 1), kMinWarmSpare, cap);
}

void SegmentPool::give(Segment* seg) {
  // relaxed: only this thread writes given_.
  const std::size_t given = given_.load(std::memory_order_relaxed);
  // acquire pairs with take()'s release of taken_: the slot we overwrite has been read.
  const std::size_t taken = taken_.load(std::memory_order_acquire);
  if (given - taken >= warm_) {
    if (seg->file != nullptr)
      segment_file::evict(*seg);  // the file keeps the bytes; relayd's memory lets them go
    else
      madvise(seg->data, seg->capacity, MADV_DONTNEED);
  }
  ring_[given & mask_] = seg;  // never full: at most max_segments_ segments exist
  // release: the producer that sees the new count sees the slot's content.
  given_.store(given + 1, std::memory_order_release);
}

std::size_t SegmentPool::allocated() const noexcept {
  // relaxed: statistic.
  return allocated_.load(std::memory_order_relaxed);
}

std::size_t SegmentPool::idle() const noexcept {
  // relaxed: statistic; the two loads may be momentarily inconsistent, so clamp.
  const std::size_t given = given_.load(std::memory_order_relaxed);
  const std::size_t taken = taken_.load(std::memory_order_relaxed);
  return given >= taken ? given - taken : 0;
}

}  // namespace relay
