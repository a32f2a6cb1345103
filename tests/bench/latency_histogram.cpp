#include "latency_histogram.hpp"

#include <bit>
#include <cmath>

namespace relay::bench {

int LatencyHistogram::bucket(std::uint64_t us) noexcept {
  if (us < kLinear) return static_cast<int>(us);
  const int exp = 63 - std::countl_zero(us);  // >= 7
  const auto sub = static_cast<int>((us >> (exp - kSubBits)) & ((1u << kSubBits) - 1));
  return kLinear + (exp - 7) * (1 << kSubBits) + sub;
}

std::uint64_t LatencyHistogram::lower_bound(int b) noexcept {
  if (b < kLinear) return static_cast<std::uint64_t>(b);
  const int exp = 7 + (b - kLinear) / (1 << kSubBits);
  const auto sub = static_cast<std::uint64_t>((b - kLinear) % (1 << kSubBits));
  return (std::uint64_t{1} << exp) | (sub << (exp - kSubBits));
}

void LatencyHistogram::record(std::uint64_t us) noexcept {
  ++counts_[static_cast<std::size_t>(bucket(us))];
  ++count_;
  if (us > max_) max_ = us;
}

std::uint64_t LatencyHistogram::quantile(double q) const noexcept {
  if (count_ == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += counts_[static_cast<std::size_t>(b)];
    if (seen >= rank && seen > 0) return lower_bound(b);
  }
  return max_;
}

}  // namespace relay::bench
