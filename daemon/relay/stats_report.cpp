#include "stats_report.hpp"

#include <fmt/format.h>

namespace relay {

namespace {

double rate(std::uint64_t now, std::uint64_t before, double seconds) {
  return seconds > 0 && now >= before ? static_cast<double>(now - before) / seconds : 0.0;
}

#define RELAY_FORMAT_VALUE(name, unit, desc) out += fmt::format(" " #name "={}", v.name);

std::string listener_line(const ListenerSnapshot& l, const ListenerSnapshot* before, double seconds) {
  std::string out = fmt::format("stats listener={} rcvbuf_granted_bytes={}", l.address, l.rcvbuf_granted_bytes);
  const ListenerValues& v = l.counters;
  RELAY_LISTENER_COUNTERS(RELAY_FORMAT_VALUE)
  if (before != nullptr)
    out += fmt::format(" received_rate={:.0f}", rate(v.received_messages, before->counters.received_messages, seconds));
  return out;
}

std::string destination_line(const DestinationSnapshot& d, const DestinationSnapshot* before, double seconds) {
  std::string out = fmt::format("stats destination={} id={} state={}", d.address, d.id, to_string(d.state));
  const DestinationValues& v = d.counters;
  RELAY_DESTINATION_COUNTERS(RELAY_FORMAT_VALUE)
  out += fmt::format(" cursor={} lag_messages={} unacked_messages={} lag_seconds={:.3f}", d.cursor, d.lag_messages,
                     d.unacked_messages, d.lag_seconds);
  if (before != nullptr)
    out += fmt::format(" sent_rate={:.0f}", rate(v.sent_messages, before->counters.sent_messages, seconds));
  return out;
}

std::string queue_line(const QueueStats& q) {
  std::string out = fmt::format(
      "stats queue tail={} head={} items={} reclaim_point={} segments_in_use={} bytes_in_use={} max_queue_bytes={} "
      "evictions={}",
      q.tail, q.head, q.items, q.reclaim_point, q.segments_in_use, q.bytes_in_use, q.max_queue_bytes, q.evictions);
  if (q.max_disk_bytes > 0)  // --data-dir
    out +=
        fmt::format(" disk_bytes_in_use={} max_disk_bytes={} sync_errors={} recovered_messages={} damaged_messages={}",
                    q.disk_bytes_in_use, q.max_disk_bytes, q.sync_errors, q.recovered_messages, q.damaged_messages);
  return out;
}

template <typename T, typename Key>
const T* find_by(const std::vector<T>& items, Key key) {
  for (const T& item : items) {
    if (key(item)) return &item;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> format_stats(const StatsSnapshot& now, const StatsSnapshot* previous) {
  const double seconds = previous != nullptr ? static_cast<double>(now.unix_ns - previous->unix_ns) / 1e9 : 0.0;
  std::vector<std::string> lines{queue_line(now.queue),
                                 fmt::format("stats ingest_wait_seconds={:.6f}", now.ingest_wait_seconds)};
  for (const auto& l : now.listeners) {
    const ListenerSnapshot* before =
        previous ? find_by(previous->listeners, [&](const ListenerSnapshot& p) { return p.address == l.address; })
                 : nullptr;
    lines.push_back(listener_line(l, before, seconds));
  }
  for (const auto& d : now.destinations) {
    const DestinationSnapshot* before =
        previous ? find_by(previous->destinations, [&](const DestinationSnapshot& p) { return p.id == d.id; })
                 : nullptr;
    lines.push_back(destination_line(d, before, seconds));
  }
  return lines;
}

}  // namespace relay
