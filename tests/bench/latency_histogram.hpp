// latency_histogram: fixed-memory log-linear histogram of microsecond latencies (exact below
// 128 us, then 64 sub-buckets per power of two: < 1.6% error), cheap enough per message.
#pragma once

#include <array>
#include <cstdint>

namespace relay::bench {

class LatencyHistogram {
 public:
  void record(std::uint64_t us) noexcept;
  // The value at quantile q in [0,1] (bucket lower bound); 0 when empty.
  std::uint64_t quantile(double q) const noexcept;
  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max() const noexcept { return max_; }

 private:
  static constexpr int kLinear = 128;
  static constexpr int kSubBits = 6;
  static constexpr int kBuckets = kLinear + (64 - 7) * (1 << kSubBits);
  static int bucket(std::uint64_t us) noexcept;
  static std::uint64_t lower_bound(int bucket) noexcept;

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace relay::bench
