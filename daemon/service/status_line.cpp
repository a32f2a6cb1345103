#include "status_line.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace relay::service {

namespace {

std::uint64_t received(const StatsSnapshot& s) { return s.received.received_messages; }

std::uint64_t sent(const StatsSnapshot& s) {
  std::uint64_t n = 0;
  for (const auto& d : s.destinations) n += d.counters.sent_messages;
  return n;
}

// Every message relayd gave up on, whatever the reason: at ingest and per destination.
std::uint64_t dropped(const StatsSnapshot& s) {
  const ListenerValues& r = s.received;
  std::uint64_t n = r.dropped_oversized + r.dropped_queue_full + r.kernel_drops + r.dropped_partial_frames;
  for (const auto& d : s.destinations) n += d.counters.dropped_lagging + d.counters.dropped_removed;
  return n;
}

// Counters only grow, but a destination removed between two snapshots takes its counts with
// it: such a step down reads as no traffic, never as a huge rate.
double per_second(std::uint64_t now, std::uint64_t before, double seconds) {
  return seconds > 0 && now >= before ? static_cast<double>(now - before) / seconds : 0.0;
}

std::string mib(std::size_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20)); }

std::string plural(std::size_t n, const char* word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

}  // namespace

std::string status_line(const StatsSnapshot& now, const StatsSnapshot* previous) {
  const auto connected = std::count_if(now.destinations.begin(), now.destinations.end(),
                                       [](const auto& d) { return d.state == DestinationState::connected; });
  std::string line = fmt::format("{}, {} ({} connected)", plural(now.listeners.size(), "listener"),
                                 plural(now.destinations.size(), "destination"), connected);
  if (previous != nullptr) {
    const double seconds = static_cast<double>(now.unix_ns - previous->unix_ns) / 1e9;
    line += fmt::format("; {:.0f} msg/s in, {:.0f} msg/s out, {:.0f} dropped/s",
                        per_second(received(now), received(*previous), seconds),
                        per_second(sent(now), sent(*previous), seconds),
                        per_second(dropped(now), dropped(*previous), seconds));
  }
  return line + fmt::format("; queue {} of {}", mib(now.queue.bytes_in_use), mib(now.queue.max_queue_bytes));
}

}  // namespace relay::service
