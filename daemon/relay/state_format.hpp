// state_format: the state file's text (docs/STATE.md). Line-based so an operator can read it;
// strict, with a version line and a checksum line, so a damaged file is refused rather than
// half-read:
//
//   # comment lines (only before the version line)
//   relayd-state 1
//   added tls@10.0.0.5:6514?framing=line&ca=/etc/relayd/ca.pem
//   removed tcp@127.0.0.1:2009
//   checksum fnv1a64 0123456789abcdef
//
// The checksum is FNV-1a (64 bits) of every byte before the checksum line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime_state.hpp"

namespace relay {

inline constexpr int kStateVersion = 1;

std::uint64_t fnv1a64(std::string_view bytes) noexcept;
std::string format_state(const RuntimeState& state);
// Throws StateError "FILE: line N: reason" for anything but a whole file in the format above.
RuntimeState parse_state(std::string_view text, const std::string& file);

}  // namespace relay
