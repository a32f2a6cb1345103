#include "duration.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>

namespace relayctl {

namespace {

struct Unit {
  std::string_view suffix;
  double ms;
};

// Longer suffixes first so "ms" is not read as "m" followed by junk.
constexpr std::array kUnits{Unit{"ms", 1.0}, Unit{"s", 1e3}, Unit{"m", 60e3}, Unit{"h", 3600e3}};
constexpr double kMaxMs = 365.0 * 24 * 3600e3;  // a year: far beyond any sensible timeout

[[noreturn]] void bad(std::string_view text, std::string_view why) {
  throw std::invalid_argument("bad duration \"" + std::string(text) + "\": " + std::string(why) +
                              " (examples: 500ms, 2s, 1m; a plain number is seconds)");
}

// Splits "1.5s" into the number and the unit's size in milliseconds.
std::pair<std::string_view, double> split_unit(std::string_view text) {
  for (const auto& u : kUnits) {
    if (text.ends_with(u.suffix)) return {text.substr(0, text.size() - u.suffix.size()), u.ms};
  }
  return {text, 1e3};
}

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text) {
  const auto [number, unit_ms] = split_unit(text);
  if (number.empty()) bad(text, "no number");
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc{} || end != number.data() + number.size()) bad(text, "not a number with a unit");
  if (!std::isfinite(value) || value < 0) bad(text, "must be zero or more");
  const double ms = value * unit_ms;
  if (ms > kMaxMs) bad(text, "longer than a year");
  return std::chrono::milliseconds{std::llround(ms)};
}

void set_duration(google::protobuf::Duration& out, std::chrono::milliseconds d) {
  out.set_seconds(d.count() / 1000);
  out.set_nanos(static_cast<std::int32_t>(d.count() % 1000 * 1'000'000));
}

std::string duration_error(const std::string& text) {
  try {
    parse_duration(text);
    return {};
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

}  // namespace relayctl
