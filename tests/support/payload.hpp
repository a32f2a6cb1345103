// payload: the test and bench message layout.
//
//   <16 lowercase hex digits: seq> ' ' <16 hex digits: CLOCK_MONOTONIC ns at creation> ' ' 'x'...
//
// ASCII without '\n' so one layout works for every framing, and the receiver can check order
// (seq) and latency (timestamp) without a side channel. Minimum size is the 34-byte header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relay::test {

inline constexpr std::size_t kPayloadHeader = 34;

std::uint64_t monotonic_ns() noexcept;

// A payload of max(size, kPayloadHeader) bytes stamped with seq and the current monotonic time.
std::string make_payload(std::uint64_t seq, std::size_t size);

// Writes the same layout into `out` (exactly max(size, kPayloadHeader) bytes must fit);
// returns the bytes written. The bench generator's allocation-free path.
std::size_t write_payload(char* out, std::uint64_t seq, std::uint64_t ts_ns, std::size_t size) noexcept;

// The seq / timestamp of a payload in this layout; nullopt when it is not one.
std::optional<std::uint64_t> parse_seq(std::string_view payload) noexcept;
std::optional<std::uint64_t> parse_timestamp(std::string_view payload) noexcept;

}  // namespace relay::test
