// destination_shared: the part of a destination other threads may read — its identity, counters,
// gauges, state and last error — without locks.
//
// Thread: written by the client thread only (single-writer counters and gauges); read by the
// background thread (stats log) and the control threads (snapshots).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "counters.hpp"
#include "destination_snapshot.hpp"
#include "endpoint.hpp"

namespace relay {

struct DestinationShared {
  DestinationShared(std::uint64_t id_, Endpoint ep) : id(id_), endpoint(std::move(ep)) {}
  const std::uint64_t id;  // stable for the destination's life, never reused
  const Endpoint endpoint;
  DestinationCounters counters;
  Gauge<std::uint64_t> cursor;       // next message id to write
  Gauge<std::int64_t> lag_since_ns;  // receive time of the message at the cursor, 0 when caught up
  Gauge<DestinationState> state;
  std::atomic<std::shared_ptr<const std::string>> last_error;  // replaced whole; readers copy it
};

}  // namespace relay
