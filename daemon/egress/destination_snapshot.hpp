// destination_snapshot: a plain copy of one destination's state, for readers on any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "counters.hpp"
#include "endpoint.hpp"

namespace relay {

enum class DestinationState : std::uint8_t {
  connecting,   // a connect() is in progress
  connected,    // writing
  backing_off,  // waiting before the next connection attempt
  draining,     // being removed; flushing what is queued for it first
};
std::string_view to_string(DestinationState s) noexcept;

// Where a destination comes from (docs/STATE.md): the command line or config file, or the API.
// The client thread does not know; the relay fills it in (relay.cpp).
enum class Origin : std::uint8_t { config, api };

struct DestinationSnapshot {
  std::uint64_t id = 0;  // stable for the destination's life, never reused
  std::string address;   // canonical "tcp@host:port"
  Framing framing = Framing::lp32le;
  bool framed = true;  // false for kafka@ and nats@: a broker stores each message whole, no framing
  DestinationState state = DestinationState::connecting;
  DestinationValues counters;
  std::uint64_t cursor = 0;            // first message not delivered yet (written; at-least-once: acknowledged)
  std::uint64_t lag_messages = 0;      // tail minus cursor
  std::uint64_t unacked_messages = 0;  // written, not yet acknowledged (at-least-once; part of the lag)
  Delivery delivery = Delivery::at_least_once;
  double lag_seconds = 0;  // age of the oldest message not yet written (0 when caught up)
  std::string last_error;  // most recent connection error, empty if none
  Origin origin = Origin::config;
};

struct DestinationShared;
// Any thread: a copy of what `d` shows now; `tail` and `now_ns` (steady) give lag and its age.
DestinationSnapshot snapshot_of(const DestinationShared& d, std::uint64_t tail, std::int64_t now_ns);

}  // namespace relay
