// token_bucket: paces a sender to an average rate while letting it send in batches.
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdint>

namespace relay::bench {

class TokenBucket {
 public:
  // rate: tokens per second (0 = unlimited); burst: most tokens that may accumulate, so an idle
  // moment is not followed by a burst big enough to overrun the receiver.
  TokenBucket(double rate, double burst) : rate_(rate), burst_(std::max(burst, 1.0)) {}

  // Blocks until `n` tokens are available, then takes them. n must be <= burst.
  void take(double n) {
    if (rate_ <= 0) return;
    refill();
    while (tokens_ < n) {
      // Sleeping is the point here: the generator must not send before its time.
      const double wait_s = (n - tokens_) / rate_;
      const timespec ts{static_cast<time_t>(wait_s),
                        static_cast<long>((wait_s - static_cast<double>(static_cast<time_t>(wait_s))) * 1e9)};
      ::nanosleep(&ts, nullptr);
      refill();
    }
    tokens_ -= n;
  }

 private:
  static double now_s() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  void refill() {
    const double t = now_s();
    if (last_ > 0) tokens_ = std::min(burst_, tokens_ + (t - last_) * rate_);
    last_ = t;
  }

  double rate_;
  double burst_;
  double tokens_ = 0;  // starts empty so short runs are not inflated by an initial burst
  double last_ = 0;
};

}  // namespace relay::bench
