#include "ingest_pacer.hpp"

#include <algorithm>

namespace relay {

double IngestPacer::update(double now, const IngestTotals& totals) noexcept {
  const double seconds = now - window_start_;
  if (!started_ || seconds <= 0) {
    started_ = true;
    window_start_ = now;
    at_window_start_ = totals;
    return delay_;
  }
  const IngestTotals delta{totals.messages - at_window_start_.messages, totals.bytes - at_window_start_.bytes,
                           totals.kernel_drops - at_window_start_.kernel_drops};
  if (delta.kernel_drops > 0) paused_windows_ = kPauseWindowsAfterDrop;
  delay_ = paused_windows_ > 0 ? 0 : delay_for(seconds, delta);
  paused_windows_ = std::max(0, paused_windows_ - 1);
  window_start_ = now;
  at_window_start_ = totals;
  return delay_;
}

double IngestPacer::delay_for(double seconds, const IngestTotals& delta) const noexcept {
  const double rate = static_cast<double>(delta.messages) / seconds;
  if (rate * max_delay_ < kMinBatch) return 0;
  if (rcvbuf_ == 0) return max_delay_;
  const double per_message =
      static_cast<double>(delta.bytes) / static_cast<double>(delta.messages) + kPerDatagramOverhead;
  const double fills_quarter = static_cast<double>(rcvbuf_) / 4 / (rate * per_message);
  const double delay = std::min(max_delay_, fills_quarter);
  return rate * delay < kMinBatch ? 0 : delay;
}

}  // namespace relay
