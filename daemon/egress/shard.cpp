#include "shard.hpp"

#include <xxhash.h>

#include <algorithm>
#include <charconv>

namespace relay {

std::string_view key_of(std::string_view payload, const ShardKey& key) noexcept {
  switch (key.kind) {
    case ShardKeyKind::payload: return payload;
    case ShardKeyKind::first_field: return payload.substr(0, payload.find_first_of(" \t"));
    case ShardKeyKind::byte_range:
      return key.offset >= payload.size() ? std::string_view{} : payload.substr(key.offset, key.length);
  }
  return payload;
}

std::uint64_t key_hash(std::string_view key) noexcept { return XXH3_64bits(key.data(), key.size()); }

std::optional<ShardKey> parse_shard_key(std::string_view spec, std::size_t max_bytes) noexcept {
  if (spec == "field") return ShardKey{ShardKeyKind::first_field, 0, 0};
  if (spec == "payload") return ShardKey{ShardKeyKind::payload, 0, 0};
  constexpr std::string_view kBytes = "bytes:";
  if (!spec.starts_with(kBytes)) return std::nullopt;
  const std::string_view range = spec.substr(kBytes.size());
  const auto dash = range.find('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  std::size_t offset = 0, length = 0;
  const auto a = std::from_chars(range.data(), range.data() + dash, offset);
  const auto b = std::from_chars(range.data() + dash + 1, range.data() + range.size(), length);
  if (a.ec != std::errc{} || a.ptr != range.data() + dash || b.ec != std::errc{} ||
      b.ptr != range.data() + range.size() || offset > max_bytes || length == 0 || length > max_bytes)
    return std::nullopt;
  return ShardKey{ShardKeyKind::byte_range, offset, length};
}

// Lamping & Veach's algorithm as published: a linear congruential step per jump, each jump
// landing further ahead, so the loop runs O(log n) times.
std::uint32_t jump_bucket(std::uint64_t hash, std::uint32_t buckets) noexcept {
  std::int64_t b = -1, j = 0;
  while (j < static_cast<std::int64_t>(buckets)) {
    b = j;
    hash = hash * 2862933555777941757ULL + 1;
    j = static_cast<std::int64_t>(static_cast<double>(b + 1) *
                                  (static_cast<double>(1LL << 31) / static_cast<double>((hash >> 33) + 1)));
  }
  return static_cast<std::uint32_t>(b);
}

std::size_t pick_member(std::uint64_t hash, std::span<const bool> healthy) noexcept {
  const auto n = static_cast<std::uint32_t>(healthy.size());
  if (n == 0) return 0;
  std::size_t m = jump_bucket(hash, n);
  // A probe sequence per key: the same key always meets the same members in the same order.
  for (std::uint64_t step = 1; !healthy[m] && step <= 4 * std::uint64_t{n}; ++step)
    m = jump_bucket(XXH3_64bits_withSeed(&hash, sizeof hash, step), n);
  if (healthy[m]) return m;
  const auto first = std::ranges::find(healthy, true);
  return static_cast<std::size_t>(first - healthy.begin());  // n when none is healthy
}

}  // namespace relay
