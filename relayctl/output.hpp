// output: how relayctl shows relayd's answers — aligned tables with units for people, or the
// proto messages as JSON (field names as in relay.proto, every field present) for scripts.
#pragma once

#include <google/protobuf/message.h>

#include <ostream>
#include <string>
#include <string_view>

#include "rates.hpp"
#include "relay/v1/relay.pb.h"

namespace relayctl {

// One line of JSON (proto3 JSON mapping: 64-bit integers are strings, enums their names).
void print_json(std::ostream& out, const google::protobuf::Message& msg);

// Enum names as relayctl spells them: FRAMING_LP32LE → "lp32le", DESTINATION_STATE_BACKING_OFF
// → "backing-off".
std::string framing_name(relay::v1::Framing f);
std::string state_name(relay::v1::DestinationState s);
std::string origin_name(relay::v1::Origin o);

// A table column's title: the name its value has in the API and the log, upper-cased
// ("sent_messages" → "SENT_MESSAGES"). Counter columns come from the counter table, so a counter
// added there gets a column with no edit here.
std::string column_title(std::string_view name);

// "1234 messages", "1.2 MiB": a counter value in its table unit.
std::string format_counter(std::uint64_t value, std::string_view unit);

// Every field and counter of one destination, one per line.
void print_destination(std::ostream& out, const relay::v1::Destination& d);
// One row per destination.
void print_destinations(std::ostream& out, const relay::v1::ListDestinationsResponse& list);
// Listeners, queue and destinations; with rate columns when `rates` is given (watch mode).
void print_stats(std::ostream& out, const relay::v1::Stats& stats, const StatsRates* rates = nullptr);
void print_info(std::ostream& out, const relay::v1::Info& info);
void print_caller(std::ostream& out, const relay::v1::Caller& caller);
// "removed ADDRESS", "added ADDRESS", "applied SETTING", "restart needed for SETTING",
// "failed: STEP", one per line after the file's name; "no change" when there is none.
void print_reload(std::ostream& out, const relay::v1::ReloadResponse& r);

}  // namespace relayctl
