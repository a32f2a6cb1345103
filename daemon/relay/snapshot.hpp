// snapshot: plain copies of relayd's state for readers outside the data path (the stats log,
// the gRPC control service); a destination's own part is egress/destination_snapshot.hpp. Built from atomics owned by
// their threads; taking one never stops or slows the data path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "counters.hpp"
#include "destination_snapshot.hpp"
#include "queue.hpp"

namespace relay {

struct ListenerSnapshot {
  std::string address;
  int rcvbuf_granted_bytes = 0;  // bytes, as the kernel granted (0 for TCP)
  ListenerValues counters;
};

struct StatsSnapshot {
  std::int64_t unix_ns = 0;  // wall clock when taken
  double uptime_seconds = 0;
  ListenerValues received;  // summed over listeners
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
