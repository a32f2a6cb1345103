// rates: per-second rates from two consecutive Stats snapshots (relayd sends totals only).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "relay/v1/relay.pb.h"

namespace relayctl {

struct Rate {
  double messages = 0;  // messages per second
  double bytes = 0;     // bytes per second
};

struct StatsRates {
  std::optional<Rate> received;                // all listeners summed; unset: no rates yet
  std::map<std::string, Rate> listeners;       // by listener address
  std::map<std::uint64_t, Rate> destinations;  // sent, by destination id
};

// Rates over the time between the snapshots' `time`; nullopt unless `cur` is newer than
// `prev`. Entities present only in `cur` (a destination just added) get no rate.
std::optional<StatsRates> compute_rates(const relay::v1::Stats& prev, const relay::v1::Stats& cur);

}  // namespace relayctl
