#include "rates.hpp"

namespace relayctl {

namespace pb = relay::v1;

namespace {

double seconds_between(const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
  return static_cast<double>(b.seconds() - a.seconds()) + (b.nanos() - a.nanos()) / 1e9;
}

// Counters only grow; a smaller value (relayd restarted) gives 0 rather than a negative rate.
double per_second(std::uint64_t before, std::uint64_t after, double seconds) {
  return after >= before ? static_cast<double>(after - before) / seconds : 0.0;
}

Rate received_rate(const pb::ListenerCounters& a, const pb::ListenerCounters& b, double s) {
  return {per_second(a.received_messages(), b.received_messages(), s),
          per_second(a.received_bytes(), b.received_bytes(), s)};
}

Rate sent_rate(const pb::DestinationCounters& a, const pb::DestinationCounters& b, double s) {
  return {per_second(a.sent_messages(), b.sent_messages(), s), per_second(a.sent_bytes(), b.sent_bytes(), s)};
}

}  // namespace

std::optional<StatsRates> compute_rates(const pb::Stats& prev, const pb::Stats& cur) {
  const double s = seconds_between(prev.time(), cur.time());
  if (s <= 0) return std::nullopt;
  StatsRates r;
  r.received = received_rate(prev.received(), cur.received(), s);
  std::map<std::string, const pb::ListenerCounters*> listeners_before;
  for (const auto& l : prev.listeners()) listeners_before[l.address()] = &l.counters();
  for (const auto& l : cur.listeners()) {
    if (auto it = listeners_before.find(l.address()); it != listeners_before.end()) {
      r.listeners[l.address()] = received_rate(*it->second, l.counters(), s);
    }
  }
  std::map<std::uint64_t, const pb::DestinationCounters*> destinations_before;
  for (const auto& d : prev.destinations()) destinations_before[d.id()] = &d.counters();
  for (const auto& d : cur.destinations()) {
    if (auto it = destinations_before.find(d.id()); it != destinations_before.end()) {
      r.destinations[d.id()] = sent_rate(*it->second, d.counters(), s);
    }
  }
  return r;
}

}  // namespace relayctl
