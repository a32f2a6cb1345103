// shard: which member of a destination group a message goes to (issue #13, groundwork for
// `hash` groups; not wired into the client thread yet).
//
// A message's key is the whole payload, its first whitespace-delimited field (a graphite or
// statsd line's metric name), or a byte range of it. The key's 64-bit XXH3 hash picks one of N
// members with jump consistent hash (Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash
// Algorithm", 2014): every member gets 1/N of the keys, and going from N to N+1 members moves
// only the 1/(N+1) that the new member takes. A member that is down has its keys probed onto the
// others (the same jump hash with the key re-mixed, until a healthy member comes up), so only
// the down member's keys move, spread over the rest, and they come back when it does.
// Thread: any; no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace relay {

enum class ShardKeyKind {
  payload,      // the whole payload
  first_field,  // up to the first space or tab (graphite "metric value ts", statsd "metric:1|c")
  byte_range,   // bytes [offset, offset + length) of the payload (clipped to it)
};

struct ShardKey {
  ShardKeyKind kind = ShardKeyKind::payload;
  std::size_t offset = 0;  // byte_range only
  std::size_t length = 0;  // byte_range only
};

// A key as an address option writes it: "field", "payload" or "bytes:OFFSET-LENGTH" with
// OFFSET <= max_bytes and 1 <= LENGTH <= max_bytes; nullopt for anything else (the caller says
// what it accepts, with its own options).
std::optional<ShardKey> parse_shard_key(std::string_view spec, std::size_t max_bytes) noexcept;
// The part of `payload` that is its key.
std::string_view key_of(std::string_view payload, const ShardKey& key) noexcept;
// The key's 64-bit hash (XXH3).
std::uint64_t key_hash(std::string_view key) noexcept;
// Jump consistent hash: a bucket in [0, buckets) for `hash`; buckets >= 1.
std::uint32_t jump_bucket(std::uint64_t hash, std::uint32_t buckets) noexcept;
// The member for `hash` among healthy[0..n): its jump bucket when that member is healthy, else
// the first healthy member of a probe sequence (the hash re-mixed per step). Returns n when no
// member is healthy.
std::size_t pick_member(std::uint64_t hash, std::span<const bool> healthy) noexcept;

}  // namespace relay
