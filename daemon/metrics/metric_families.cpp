#include "metric_families.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "counter_table.hpp"

namespace relay::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

struct Row {
  std::string_view name, unit, description;
};
#define RELAY_ROW(name, unit, desc) Row{#name, unit, desc},
constexpr Row kListenerRows[] = {RELAY_LISTENER_COUNTERS(RELAY_ROW)};
constexpr Row kDestinationRows[] = {RELAY_DESTINATION_COUNTERS(RELAY_ROW)};
#undef RELAY_ROW

// Counters of one kind that differ only in why: one family with a `reason` label. A counter not
// listed here is a family of its own, named after it.
struct Grouped {
  std::string_view counter, family, reason;
  std::string_view what;  // the family's help, before its reasons
};
constexpr Grouped kListenerGroups[] = {
    {"dropped_empty", "dropped_messages", "empty", "messages dropped"},
    {"dropped_oversized", "dropped_messages", "oversized", "messages dropped"},
    {"dropped_queue_full", "dropped_messages", "queue_full", "messages dropped"},
    {"kernel_drops", "dropped_messages", "kernel", "messages dropped"},
    {"dropped_partial_frames", "dropped_messages", "partial_frame", "messages dropped"},
    {"dropped_bad_frame_bytes", "dropped_bytes", "bad_frame", "bytes dropped"},
    {"connections_closed_bad_frame", "connections_closed", "bad_frame", "TCP ingest connections closed by relayd"},
    {"connections_closed_idle", "connections_closed", "idle", "TCP ingest connections closed by relayd"},
};
constexpr Grouped kDestinationGroups[] = {
    {"dropped_lagging", "dropped_messages", "lagging", "messages the destination never got"},
    {"dropped_removed", "dropped_messages", "removed", "messages the destination never got"},
    {"dropped_rejected", "dropped_messages", "rejected", "messages the destination never got"},
    {"resent_partial", "resent_partial_messages", "", ""},  // its unit in the name, as Prometheus asks
    {"resent_unacked", "resent_unacked_messages", "", ""},
    {"publish_failures", "publish_failures_messages", "", ""},
    {"rerouted", "rerouted_messages", "", ""},
};

// One scope of the table: listener or destination.
struct Scope {
  std::string_view prefix;  // "relay_listener_"
  std::string_view label;   // "listener"
  std::span<const Row> rows;
  std::span<const Grouped> groups;

  const Grouped* group_of(std::string_view counter) const {
    for (const auto& g : groups)
      if (g.counter == counter) return &g;
    return nullptr;
  }

  std::string family_name(const Row& r) const {
    const Grouped* g = group_of(r.name);
    return fmt::format("{}{}_total", prefix, g ? g->family : r.name);
  }

  // A grouped family's help lists each reason with the table's description of its counter.
  std::string help(const Row& r) const {
    const Grouped* g = group_of(r.name);
    if (!g || g->reason.empty()) return std::string(r.description);
    std::vector<std::string> reasons;
    for (const auto& other : groups) {
      if (other.family != g->family) continue;
      for (const auto& row : rows)
        if (row.name == other.counter) reasons.push_back(fmt::format("{} = {}", other.reason, row.description));
    }
    return fmt::format("{}, by reason: {}", g->what, fmt::join(reasons, "; "));
  }

  Labels labels(const std::string& subject, const Row& r) const {
    Labels l{{std::string(label), subject}};
    const Grouped* g = group_of(r.name);
    if (g && !g->reason.empty()) l.push_back({"reason", std::string(g->reason)});
    return l;
  }
};

constexpr Scope kListenerScope{"relay_listener_", "listener", kListenerRows, kListenerGroups};
constexpr Scope kDestinationScope{"relay_destination_", "destination", kDestinationRows, kDestinationGroups};

// Families in first-seen order, each filled across subjects.
class Families {
 public:
  void add(const std::string& name, MetricType type, const std::string& help, Labels labels, double value) {
    auto [it, fresh] = index_.try_emplace(name, out_.size());
    if (fresh) out_.push_back(MetricFamily{name, help, type, {}});
    ClientMetric m;
    m.label = std::move(labels);
    if (type == MetricType::Counter)
      m.counter.value = value;
    else
      m.gauge.value = value;
    out_[it->second].metric.push_back(std::move(m));
  }
  void gauge(const std::string& name, const std::string& help, Labels labels, double value) {
    add(name, MetricType::Gauge, help, std::move(labels), value);
  }
  std::vector<MetricFamily> take() { return std::move(out_); }

 private:
  std::vector<MetricFamily> out_;
  std::map<std::string, std::size_t> index_;
};

#define RELAY_VALUE(name, unit, desc) v.name,
std::vector<std::uint64_t> values_of(const ListenerValues& v) { return {RELAY_LISTENER_COUNTERS(RELAY_VALUE)}; }
std::vector<std::uint64_t> values_of(const DestinationValues& v) { return {RELAY_DESTINATION_COUNTERS(RELAY_VALUE)}; }
#undef RELAY_VALUE

// The counters of one listener or destination, in table order (values_of follows the same table).
template <typename Values>
void add_counters(Families& f, const Scope& scope, const std::string& subject, const Values& values) {
  const std::vector<std::uint64_t> v = values_of(values);
  for (std::size_t i = 0; i < scope.rows.size(); ++i) {
    const Row& r = scope.rows[i];
    f.add(scope.family_name(r), MetricType::Counter, scope.help(r), scope.labels(subject, r),
          static_cast<double>(v[i]));
  }
}

void add_queue(Families& f, const QueueStats& q) {
  f.gauge("relay_queue_tail", "id the next message will get (messages appended since start)", {},
          static_cast<double>(q.tail));
  f.gauge("relay_queue_head", "id of the oldest message still readable", {}, static_cast<double>(q.head));
  f.gauge("relay_queue_messages", "messages held in the queue (tail - head)", {}, static_cast<double>(q.items));
  f.gauge("relay_queue_reclaim_point", "smallest live cursor as of the last reclaim pass", {},
          static_cast<double>(q.reclaim_point));
  f.gauge("relay_queue_segments", "queue segments in use", {}, static_cast<double>(q.segments_in_use));
  f.gauge("relay_queue_bytes", "bytes of queue segments in use", {}, static_cast<double>(q.bytes_in_use));
  f.gauge("relay_queue_max_bytes", "queue memory budget (--max-queue-bytes)", {},
          static_cast<double>(q.max_queue_bytes));
  f.add("relay_queue_evictions_total", MetricType::Counter,
        "times the queue budget forced its floor up past lagging destinations", {}, static_cast<double>(q.evictions));
  if (q.max_disk_bytes == 0) return;  // no --data-dir
  f.gauge("relay_queue_disk_bytes", "bytes of segment files in use (--data-dir)", {},
          static_cast<double>(q.disk_bytes_in_use));
  f.gauge("relay_queue_max_disk_bytes", "disk budget of the segment files (--max-disk-bytes)", {},
          static_cast<double>(q.max_disk_bytes));
  f.add("relay_queue_sync_errors_total", MetricType::Counter, "write-backs of segment files the disk refused", {},
        static_cast<double>(q.sync_errors));
  f.gauge("relay_queue_recovered_messages", "messages found in the data directory at start-up", {},
          static_cast<double>(q.recovered_messages));
  f.gauge("relay_queue_damaged_messages", "messages lost at start-up to batches that failed their checksum", {},
          static_cast<double>(q.damaged_messages));
}

constexpr std::array kStates{DestinationState::connecting, DestinationState::connected, DestinationState::backing_off,
                             DestinationState::draining};

void add_destination(Families& f, const DestinationSnapshot& d) {
  add_counters(f, kDestinationScope, d.address, d.counters);
  const Labels l{{"destination", d.address}};
  f.gauge("relay_destination_lag_messages", "messages queued for the destination and not yet written (tail - cursor)",
          l, static_cast<double>(d.lag_messages));
  f.gauge("relay_destination_unacked_messages",
          "messages written to the destination and not yet acknowledged by its TCP (part of the lag)", l,
          static_cast<double>(d.unacked_messages));
  f.gauge("relay_destination_lag_seconds", "age of the oldest message not yet written (0 when caught up)", l,
          d.lag_seconds);
  f.gauge("relay_destination_cursor", "id of the first message not delivered yet (at-least-once: not acknowledged)", l,
          static_cast<double>(d.cursor));
  for (const auto state : kStates)
    f.gauge("relay_destination_state", "1 for the state the destination is in, 0 for the others",
            {{"destination", d.address}, {"state", std::string(to_string(state))}}, d.state == state ? 1 : 0);
}

}  // namespace

std::vector<MetricFamily> metric_families(const StatsSnapshot& s, const std::string& version) {
  Families f;
  f.gauge("relay_build_info", "relayd's version, as a label; always 1", {{"version", version}}, 1);
  f.gauge("relay_uptime_seconds", "seconds since relayd started", {}, s.uptime_seconds);
  f.gauge("relay_ingest_wait_seconds", "the server thread's current wait between polls (--coalesce-us)", {},
          s.ingest_wait_seconds);
  for (const auto& l : s.listeners) {
    add_counters(f, kListenerScope, l.address, l.counters);
    f.gauge("relay_listener_receive_buffer_bytes", "UDP receive buffer the kernel granted (0 for TCP)",
            {{"listener", l.address}}, l.rcvbuf_granted_bytes);
  }
  add_queue(f, s.queue);
  for (const auto& d : s.destinations) add_destination(f, d);
  return f.take();
}

}  // namespace relay::metrics
