// cache_line: the size two threads' data must be apart so that writes by one never invalidate
// the line the other reads (false sharing). 64 bytes on every x86-64 and most ARM64 parts.
#pragma once

#include <cstddef>

namespace relay {

inline constexpr std::size_t kCacheLine = 64;

}  // namespace relay
