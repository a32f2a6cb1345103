// log_limiter: lets a fault be logged at most once per interval.
//
// A UDP listener can see a million bad datagrams a second; one log line per second (saying how
// many were held back) keeps the log readable while the counters keep the exact figures.
// Thread: owned by one thread (the listener's); no atomics.
#pragma once

#include <cstdint>

namespace relay {

class LogLimiter {
 public:
  explicit LogLimiter(std::int64_t interval_ns = 1'000'000'000) noexcept : interval_ns_(interval_ns) {}

  // True when a line may be logged at `now_ns` (steady clock); false counts one held-back line.
  bool allow(std::int64_t now_ns) noexcept {
    if (logged_once_ && now_ns - last_ns_ < interval_ns_) {
      ++held_;
      return false;
    }
    logged_once_ = true;
    last_ns_ = now_ns;
    suppressed_ = held_;
    held_ = 0;
    return true;
  }

  // Lines held back before the one just allowed.
  std::uint64_t suppressed() const noexcept { return suppressed_; }

 private:
  std::int64_t interval_ns_;
  std::int64_t last_ns_ = 0;
  bool logged_once_ = false;
  std::uint64_t held_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace relay
