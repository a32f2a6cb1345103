// runtime_state: what the API changed relative to the configuration, and the one rule that turns
// a configuration and those changes into the destinations relayd runs (docs/STATE.md). Pure
// functions of text: start-up and a reload of the config file apply the same rule.
//
// Addresses are canonical texts (Endpoint::str()). Two addresses are the same destination when
// they name the same peer (transport, host and port), whatever their framing or TLS options —
// the client thread's rule for duplicates.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "destination_snapshot.hpp"
#include "relay_config.hpp"

namespace relay {

struct RuntimeState {
  std::vector<std::string> added;    // destinations added through the API, in the order added
  std::vector<std::string> removed;  // the config's destinations removed through the API
  bool empty() const noexcept { return added.empty() && removed.empty(); }
  bool operator==(const RuntimeState&) const = default;
};

struct EffectiveDestination {
  std::string address;
  Origin origin = Origin::config;
  bool operator==(const EffectiveDestination&) const = default;
};

// "tcp@HOST:PORT" (or "tls@HOST:PORT"): the part of a canonical address that names the peer.
std::string peer_key(std::string_view address);

std::vector<std::string> config_addresses(const Config& cfg);

// (the config's destinations minus the removed ones) plus the added ones, config first, in their
// orders; an added one whose peer the config still lists is the config's (origin config).
std::vector<EffectiveDestination> effective_destinations(const std::vector<std::string>& config,
                                                         const RuntimeState& state);
std::vector<EffectiveDestination> effective_destinations(const Config& cfg, const RuntimeState& state);

// The smallest state with the same effect against `config`: added ones the config lists (and
// does not remove) and removals of peers the config no longer lists are dropped.
RuntimeState normalized(const std::vector<std::string>& config, RuntimeState state);

// The state after the API added `address` (whose peer is not running) or removed the running
// destination `address`.
RuntimeState with_added(const std::vector<std::string>& config, RuntimeState state, const std::string& address);
RuntimeState with_removed(const std::vector<std::string>& config, RuntimeState state, const std::string& address);

}  // namespace relay
