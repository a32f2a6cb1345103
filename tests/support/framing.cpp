#include "framing.hpp"

#include <cstdint>

namespace relay::test {
namespace {

std::string length_prefix(std::uint32_t n, bool little) {
  std::string p(4, '\0');
  for (int i = 0; i < 4; ++i) {
    const int shift = little ? 8 * i : 8 * (3 - i);
    p[static_cast<std::size_t>(i)] = static_cast<char>((n >> shift) & 0xff);
  }
  return p;
}

}  // namespace

std::string_view name(Framing f) noexcept {
  switch (f) {
    case Framing::lp32le: return "lp32le";
    case Framing::lp32be: return "lp32be";
    case Framing::line: return "line";
    case Framing::raw: return "raw";
  }
  return "?";
}

std::optional<Framing> parse_framing(std::string_view n) noexcept {
  for (Framing f : {Framing::lp32le, Framing::lp32be, Framing::line, Framing::raw})
    if (name(f) == n) return f;
  return std::nullopt;
}

std::string encode(Framing f, std::string_view payload) {
  const auto size = static_cast<std::uint32_t>(payload.size());
  switch (f) {
    case Framing::lp32le: return length_prefix(size, true).append(payload);
    case Framing::lp32be: return length_prefix(size, false).append(payload);
    case Framing::line: {
      std::string s(payload);
      if (s.empty() || s.back() != '\n') s.push_back('\n');
      return s;
    }
    case Framing::raw: return std::string(payload);
  }
  return {};
}

std::string decoded(Framing f, std::string_view payload) {
  if (f == Framing::line && !payload.empty() && payload.back() == '\n') payload.remove_suffix(1);
  return std::string(payload);
}

}  // namespace relay::test
