#include "control_convert.hpp"

#include <string>

#include "relay_api.hpp"

namespace relay {

namespace pb = relay::v1;

pb::Framing to_proto(Framing f) noexcept {
  switch (f) {
    case Framing::lp32le: return pb::FRAMING_LP32LE;
    case Framing::lp32be: return pb::FRAMING_LP32BE;
    case Framing::line: return pb::FRAMING_LINE;
    case Framing::raw: return pb::FRAMING_RAW;
  }
  return pb::FRAMING_UNSPECIFIED;
}

pb::DestinationState to_proto(DestinationState s) noexcept {
  switch (s) {
    case DestinationState::connecting: return pb::DESTINATION_STATE_CONNECTING;
    case DestinationState::connected: return pb::DESTINATION_STATE_CONNECTED;
    case DestinationState::backing_off: return pb::DESTINATION_STATE_BACKING_OFF;
    case DestinationState::draining: return pb::DESTINATION_STATE_DRAINING;
  }
  return pb::DESTINATION_STATE_UNSPECIFIED;
}

// The counter tables name the proto fields: a counter added to the counter table without its proto
// field fails to compile here (no set_<name>), and control_convert_test checks the converse.
#define RELAY_SET_PROTO_COUNTER(name, unit, desc) out.set_##name(in.name);

void to_proto(const DestinationValues& in, pb::DestinationCounters& out) {
  RELAY_DESTINATION_COUNTERS(RELAY_SET_PROTO_COUNTER)
}

void to_proto(const ListenerValues& in, pb::ListenerCounters& out) { RELAY_LISTENER_COUNTERS(RELAY_SET_PROTO_COUNTER) }

#undef RELAY_SET_PROTO_COUNTER

void to_proto(const DestinationSnapshot& in, pb::Destination& out) {
  out.set_id(in.id);
  out.set_address(in.address);
  out.set_framing(in.framed ? to_proto(in.framing) : pb::FRAMING_UNSPECIFIED);
  out.set_state(to_proto(in.state));
  to_proto(in.counters, *out.mutable_counters());
  out.set_cursor(in.cursor);
  out.set_lag_messages(in.lag_messages);
  out.set_unacked_messages(in.unacked_messages);
  out.set_delivery(in.delivery == Delivery::at_most_once ? pb::DELIVERY_AT_MOST_ONCE : pb::DELIVERY_AT_LEAST_ONCE);
  out.set_lag_seconds(in.lag_seconds);
  out.set_last_error(in.last_error);
  out.set_origin(in.origin == Origin::api ? pb::ORIGIN_API : pb::ORIGIN_CONFIG);
}

void to_proto(const ListenerSnapshot& in, pb::Listener& out) {
  out.set_address(in.address);
  out.set_rcvbuf_granted_bytes(in.rcvbuf_granted_bytes);
  to_proto(in.counters, *out.mutable_counters());
}

void to_proto(const QueueStats& in, pb::Queue& out) {
  out.set_tail(in.tail);
  out.set_head(in.head);
  out.set_reclaim_point(in.reclaim_point);
  out.set_segments_in_use(in.segments_in_use);
  out.set_bytes_in_use(in.bytes_in_use);
  out.set_max_queue_bytes(in.max_queue_bytes);
  out.set_evictions(in.evictions);
  out.set_disk_bytes_in_use(in.disk_bytes_in_use);
  out.set_max_disk_bytes(in.max_disk_bytes);
  out.set_sync_errors(in.sync_errors);
  out.set_recovered_messages(in.recovered_messages);
  out.set_damaged_messages(in.damaged_messages);
}

void to_proto(const StatsSnapshot& in, pb::Stats& out) {
  constexpr std::int64_t kNsPerSecond = 1'000'000'000;
  out.mutable_time()->set_seconds(in.unix_ns / kNsPerSecond);
  out.mutable_time()->set_nanos(static_cast<std::int32_t>(in.unix_ns % kNsPerSecond));
  out.set_uptime_seconds(in.uptime_seconds);
  to_proto(in.received, *out.mutable_received());
  for (const auto& l : in.listeners) to_proto(l, *out.add_listeners());
  to_proto(in.queue, *out.mutable_queue());
  for (const auto& d : in.destinations) to_proto(d, *out.add_destinations());
  out.set_ingest_wait_seconds(in.ingest_wait_seconds);
}

void to_proto(const RelayInfo& in, pb::Info& out) {
  out.set_version(in.version);
  out.set_uptime_seconds(in.uptime_seconds);
  for (const auto& l : in.listeners) to_proto(l, *out.add_listeners());
  out.set_control_address(in.control_address);
  auto& limits = *out.mutable_limits();
  limits.set_max_queue_bytes(in.max_queue_bytes);
  limits.set_max_message_bytes(in.max_message_bytes);
  limits.set_max_destinations(in.max_destinations);
}

namespace {

[[noreturn]] void throw_bad_enum(int value, const char* field) {
  throw ApiError(ApiCode::invalid_argument, std::string(field) + ": unknown value " + std::to_string(value), field);
}

}  // namespace

std::optional<Framing> framing_from_proto(int value, const char* field) {
  switch (value) {
    case pb::FRAMING_UNSPECIFIED: return std::nullopt;
    case pb::FRAMING_LP32LE: return Framing::lp32le;
    case pb::FRAMING_LP32BE: return Framing::lp32be;
    case pb::FRAMING_LINE: return Framing::line;
    case pb::FRAMING_RAW: return Framing::raw;
    default: throw_bad_enum(value, field);
  }
}

StartAt start_from_proto(int value, const char* field) {
  switch (value) {
    case pb::START_UNSPECIFIED:
    case pb::START_TAIL: return StartAt::tail;
    case pb::START_HEAD: return StartAt::head;
    default: throw_bad_enum(value, field);
  }
}

}  // namespace relay
