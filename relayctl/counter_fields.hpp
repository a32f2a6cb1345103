// counter_fields: relayd's counter tables (proto/counter_table.hpp) bound to the proto accessors, so
// relayctl lists every counter, with its unit, without naming any of them again. A counter added
// to a table without its proto field fails to compile here.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "counter_table.hpp"
#include "relay/v1/relay.pb.h"

namespace relayctl {

template <typename Message>
struct CounterField {
  std::string_view name;
  std::string_view unit;  // "messages", "bytes", "connections", "events"
  std::string_view description;
  std::uint64_t (Message::*get)() const;
};

#define RELAYCTL_DESTINATION_FIELD(name, unit, desc) \
  CounterField<relay::v1::DestinationCounters>{#name, unit, desc, &relay::v1::DestinationCounters::name},
#define RELAYCTL_LISTENER_FIELD(name, unit, desc) \
  CounterField<relay::v1::ListenerCounters>{#name, unit, desc, &relay::v1::ListenerCounters::name},

inline constexpr std::array kDestinationCounterFields{RELAY_DESTINATION_COUNTERS(RELAYCTL_DESTINATION_FIELD)};
inline constexpr std::array kListenerCounterFields{RELAY_LISTENER_COUNTERS(RELAYCTL_LISTENER_FIELD)};

#undef RELAYCTL_DESTINATION_FIELD
#undef RELAYCTL_LISTENER_FIELD

}  // namespace relayctl
