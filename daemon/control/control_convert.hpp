// control_convert: translation between relayd's core types and the relay.v1 proto messages.
// Pure functions, no I/O, any thread: the control service (on gRPC's threads) and its tests
// share them.
#pragma once

#include <optional>

#include "endpoint.hpp"
#include "relay/v1/relay.pb.h"
#include "snapshot.hpp"
#include "start_at.hpp"

namespace relay {

// Core → proto.
relay::v1::Framing to_proto(Framing f) noexcept;
relay::v1::DestinationState to_proto(DestinationState s) noexcept;
void to_proto(const DestinationValues& in, relay::v1::DestinationCounters& out);
void to_proto(const ListenerValues& in, relay::v1::ListenerCounters& out);
void to_proto(const DestinationSnapshot& in, relay::v1::Destination& out);
void to_proto(const ListenerSnapshot& in, relay::v1::Listener& out);
void to_proto(const QueueStats& in, relay::v1::Queue& out);
void to_proto(const StatsSnapshot& in, relay::v1::Stats& out);
void to_proto(const RelayInfo& in, relay::v1::Info& out);

// Proto → core. Each throws ApiError(invalid_argument) naming `field` on a value outside the
// enum (proto3 keeps unknown numbers); UNSPECIFIED maps to "not set" / the default.
std::optional<Framing> framing_from_proto(int value, const char* field);
StartAt start_from_proto(int value, const char* field);

}  // namespace relay
