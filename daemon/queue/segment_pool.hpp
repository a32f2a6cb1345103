// segment_pool: where segments come from and go back to.
//
// The producer takes segments (a recycled one first, else a freshly mapped one while under the
// budget); the reclaimer gives back segments every cursor has passed. The hand-back is a
// single-producer/single-consumer ring (reclaimer → producer), so neither side ever blocks.
// Segments beyond a warm spare have their pages returned to the kernel; how the spare is sized
// and why is told in QUEUE.md ("Warm spare"). Mappings are only unmapped when the pool is
// destroyed, after every thread has stopped.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "cache_line.hpp"
#include "segment.hpp"
#include "segment_store.hpp"

namespace relay {

class SegmentPool {
 public:
  // `store`: where new segments come from when there is a data directory (files); nullptr:
  // anonymous memory. `max_warm`: the most idle segments kept in memory (the warm spare's cap).
  SegmentPool(std::size_t segment_bytes, std::size_t max_segments, SegmentStore* store = nullptr,
              std::size_t max_warm = 0);
  ~SegmentPool();
  SegmentPool(const SegmentPool&) = delete;
  SegmentPool& operator=(const SegmentPool&) = delete;

  // Start-up, before any thread runs: segments recovered from the data directory. `linked` are
  // in the queue already (counted as allocated), `spare` idle ones go to the ring.
  void adopt(std::vector<std::unique_ptr<Segment>> linked, std::vector<std::unique_ptr<Segment>> spare);
  // Producer thread: a recycled segment, else a new one, else nullptr (budget reached).
  Segment* take();
  // Reclaimer thread, at the start of each reclaim pass: sizes the warm spare for the gives to come.
  void plan_pass();
  // Reclaimer thread: hands back a segment no cursor can reach any more.
  void give(Segment* seg);

  std::size_t allocated() const noexcept;                    // any thread
  std::size_t idle() const noexcept;                         // any thread: segments waiting in the ring
  std::size_t warm_spare() const noexcept { return warm_; }  // reclaimer thread (and tests)

 private:
  static constexpr std::size_t kMinWarmSpare = 2;

  std::unique_ptr<Segment> mapped() const;  // a new segment in anonymous memory

  const std::size_t segment_bytes_;
  const std::size_t max_segments_;
  const std::size_t mask_;
  SegmentStore* const store_;
  const std::size_t max_warm_;
  std::unique_ptr<Segment*[]> ring_;
  // Ring indexes, as running counts: `taken_` advanced by the producer (take), `given_` by the
  // reclaimer (give); the ring holds given_ - taken_ segments. Separate cache lines because two
  // threads write them.
  alignas(kCacheLine) std::atomic<std::size_t> taken_{0};
  alignas(kCacheLine) std::atomic<std::size_t> given_{0};
  alignas(kCacheLine) std::atomic<std::size_t> allocated_{0};
  std::vector<std::unique_ptr<Segment>> all_;  // producer-only until destruction
  // Reclaimer-only: idle segments kept mapped, and the producer's take count at the last pass.
  std::size_t warm_ = kMinWarmSpare;
  std::size_t taken_at_last_pass_ = 0;
};

}  // namespace relay
