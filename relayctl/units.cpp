#include "units.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>

namespace relayctl {

std::string format_bytes(double bytes) {
  constexpr std::array kUnits{"KiB", "MiB", "GiB", "TiB"};
  if (std::abs(bytes) < 1024) return fmt::format("{:.0f} B", bytes);
  double v = bytes;
  const char* unit = kUnits[0];
  for (const char* u : kUnits) {
    v /= 1024;
    unit = u;
    if (std::abs(v) < 1024) break;
  }
  return fmt::format("{:.1f} {}", v, unit);
}

std::string format_byte_rate(double bytes_per_second) { return format_bytes(bytes_per_second) + "/s"; }

std::string format_message_rate(double messages_per_second) { return fmt::format("{:.1f} msg/s", messages_per_second); }

std::string format_seconds(double seconds) { return fmt::format("{:.3f} s", seconds); }

std::string format_uptime(double seconds) {
  auto s = static_cast<std::int64_t>(seconds < 0 ? 0 : seconds);
  const std::int64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
  s %= 60;
  if (d > 0) return fmt::format("{}d{:02}h{:02}m", d, h, m);
  if (h > 0) return fmt::format("{}h{:02}m{:02}s", h, m, s);
  if (m > 0) return fmt::format("{}m{:02}s", m, s);
  return fmt::format("{}s", s);
}

}  // namespace relayctl
