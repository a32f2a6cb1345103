// units: numbers as relayctl shows them to people, always with their unit.
#pragma once

#include <cstdint>
#include <string>

namespace relayctl {

// 1023 → "1023 B", 1536 → "1.5 KiB", then MiB, GiB, TiB (binary units, one decimal).
std::string format_bytes(double bytes);
// format_bytes + "/s".
std::string format_byte_rate(double bytes_per_second);
// 1234.5 → "1234.5 msg/s".
std::string format_message_rate(double messages_per_second);
// 0.0123 → "0.012 s"; the lag and uptime columns.
std::string format_seconds(double seconds);
// 3723.4 → "1h02m03s", 59.9 → "59s", 90061 → "1d01h01m"; whole seconds, for uptime.
std::string format_uptime(double seconds);

}  // namespace relayctl
