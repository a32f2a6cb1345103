// clock: relayd's one time base for ages and deadlines (steady, never jumps with the wall clock).
#pragma once

#include <chrono>
#include <cstdint>

namespace relay {

using Deadline = std::chrono::steady_clock::time_point;

inline std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace relay
