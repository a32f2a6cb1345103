// framing: the test side's copy of relayd's destination framings. Deliberately independent of
// the daemon's code so the tests check the wire format, not the implementation against itself.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay::test {

enum class Framing { lp32le, lp32be, line, raw };

std::string_view name(Framing f) noexcept;
std::optional<Framing> parse_framing(std::string_view name) noexcept;

// The bytes relayd must write for one payload.
std::string encode(Framing f, std::string_view payload);

// The message a receiver decodes from encode(f, payload): the payload, except that line
// framing cannot carry a trailing '\n' (relayd does not double it; the decoder strips it).
std::string decoded(Framing f, std::string_view payload);

}  // namespace relay::test
