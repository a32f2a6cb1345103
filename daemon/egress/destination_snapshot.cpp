#include "destination_snapshot.hpp"

#include <algorithm>

#include "destination.hpp"

namespace relay {

std::string_view to_string(DestinationState s) noexcept {
  switch (s) {
    case DestinationState::connecting: return "connecting";
    case DestinationState::connected: return "connected";
    case DestinationState::backing_off: return "backing_off";
    case DestinationState::draining: return "draining";
  }
  return "unknown";
}

DestinationSnapshot snapshot_of(const DestinationShared& d, std::uint64_t tail, std::int64_t now_ns) {
  DestinationSnapshot s;
  s.id = d.id;
  s.address = d.endpoint.str();
  s.framing = d.endpoint.framing;
  s.framed = d.endpoint.transport != Transport::kafka && d.endpoint.transport != Transport::nats;
  s.state = d.state.get();
  s.counters = read(d.counters);
  s.cursor = d.cursor.get();
  s.lag_messages = tail > s.cursor ? tail - s.cursor : 0;
  s.unacked_messages = std::min(d.unacked.get(), s.lag_messages);  // two gauges, read apart
  s.delivery = d.endpoint.delivery;
  const std::int64_t since = d.lag_since_ns.get();
  s.lag_seconds = (since > 0 && s.lag_messages > 0 && now_ns > since) ? (now_ns - since) / 1e9 : 0.0;
  // acquire: pairs with the release in fail(); the string is immutable once published.
  if (auto err = d.last_error.load(std::memory_order_acquire)) s.last_error = *err;
  return s;
}

}  // namespace relay
