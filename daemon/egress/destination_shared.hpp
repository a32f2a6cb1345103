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
#include "tls_context.hpp"

namespace relay {

struct DestinationShared {
  DestinationShared(std::uint64_t id_, Endpoint ep, std::shared_ptr<const TlsContext> tls_ = nullptr)
      : id(id_), endpoint(std::move(ep)), tls(std::move(tls_)) {}
  const std::uint64_t id;  // stable for the destination's life, never reused
  const Endpoint endpoint;
  const std::shared_ptr<const TlsContext> tls;  // tls@ destinations; used by the client thread only
  DestinationCounters counters;
  Gauge<std::uint64_t> cursor;       // first message not fully written (at-least-once: not acknowledged)
  Gauge<std::uint64_t> unacked;      // at-least-once: messages written, not yet acknowledged
  Gauge<std::int64_t> lag_since_ns;  // receive time of the message at the cursor, 0 when caught up
  Gauge<DestinationState> state;
  std::atomic<std::shared_ptr<const std::string>> last_error;  // replaced whole; readers copy it
};

}  // namespace relay
