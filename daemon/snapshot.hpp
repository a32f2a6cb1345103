// snapshot: plain copies of relayd's state for readers outside the data path (the stats log,
// the gRPC control service). Built from atomics owned by their threads; taking one never
// stops or slows the data path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "endpoint.hpp"
#include "queue.hpp"
#include "stats.hpp"

namespace relay {

enum class DestinationState : std::uint8_t {
  connecting,   // a connect() is in progress
  connected,    // writing
  backing_off,  // waiting before the next connection attempt
  draining,     // being removed; flushing what is queued for it first
};
std::string_view to_string(DestinationState s) noexcept;

struct DestinationSnapshot {
  std::uint64_t id = 0;          // stable for the destination's life, never reused
  std::string address;           // canonical "tcp@host:port"
  Framing framing = Framing::lp32le;
  DestinationState state = DestinationState::connecting;
  DestinationValues counters;
  std::uint64_t cursor = 0;       // next message id it will write
  std::uint64_t lag_messages = 0; // tail minus cursor
  double lag_seconds = 0;         // age of the oldest message not yet written (0 when caught up)
  std::string last_error;         // most recent connection error, empty if none
};

struct ListenerSnapshot {
  std::string address;
  int rcvbuf_granted = 0;  // bytes, as the kernel granted (0 for TCP)
  ListenerValues counters;
};

struct StatsSnapshot {
  std::int64_t unix_ns = 0;       // wall clock when taken
  double uptime_seconds = 0;
  ListenerValues received;        // summed over listeners
  std::vector<ListenerSnapshot> listeners;
  QueueStats queue;
  std::vector<DestinationSnapshot> destinations;
  double ingest_wait_seconds = 0;  // the server loop's current wait between polls (--coalesce-us)
};

struct RelayInfo {
  std::string version;
  double uptime_seconds = 0;
  std::vector<ListenerSnapshot> listeners;
  std::string control_address;
  std::uint64_t max_queue_bytes = 0;
  std::uint32_t max_message_bytes = 0;
  std::uint32_t max_destinations = 0;
};

}  // namespace relay
