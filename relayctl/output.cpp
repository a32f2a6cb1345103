#include "output.hpp"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>

#include "counter_fields.hpp"
#include "table.hpp"
#include "units.hpp"

namespace relayctl {

namespace pb = relay::v1;

void print_json(std::ostream& out, const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;      // the names documented in relay.proto
  opts.always_print_primitive_fields = true;   // a zero counter is present, not missing
  std::string json;
  // Cannot fail for a well-formed message; if it did, keep the output one valid JSON value.
  if (const auto st = google::protobuf::util::MessageToJsonString(msg, &json, opts); !st.ok()) {
    json = "{}";
  }
  out << json << '\n';
}

namespace {

// "PREFIX_SOME_NAME" → "some-name".
std::string enum_word(const std::string& full, std::string_view prefix) {
  std::string s = full.starts_with(prefix) ? full.substr(prefix.size()) : full;
  std::ranges::transform(s, s.begin(), [](char c) { return c == '_' ? '-' : static_cast<char>(std::tolower(c)); });
  return s;
}

std::string count(std::uint64_t v) { return std::to_string(v); }

}  // namespace

std::string framing_name(pb::Framing f) { return enum_word(pb::Framing_Name(f), "FRAMING_"); }
std::string state_name(pb::DestinationState s) { return enum_word(pb::DestinationState_Name(s), "DESTINATION_STATE_"); }

std::string format_counter(std::uint64_t value, std::string_view unit) {
  if (unit == "bytes") return format_bytes(static_cast<double>(value));
  return fmt::format("{} {}", value, unit);
}

void print_destination(std::ostream& out, const pb::Destination& d) {
  Table t({{"FIELD"}, {"VALUE", Align::right}, {"UNIT"}});
  t.add_row({"id", count(d.id())});
  t.add_row({"address", d.address()});
  t.add_row({"framing", framing_name(d.framing())});
  t.add_row({"state", state_name(d.state())});
  t.add_row({"cursor", count(d.cursor()), "message id"});
  t.add_row({"lag_messages", count(d.lag_messages()), "messages"});
  t.add_row({"lag_seconds", fmt::format("{:.3f}", d.lag_seconds()), "seconds"});
  for (const auto& f : kDestinationCounterFields) {
    const std::uint64_t v = (d.counters().*f.get)();
    const std::string human = f.unit == "bytes" && v >= 1024 ? " (" + format_bytes(static_cast<double>(v)) + ")" : "";
    t.add_row({std::string(f.name), count(v), std::string(f.unit) + human});
  }
  t.add_row({"last_error", d.last_error().empty() ? "-" : d.last_error()});
  t.print(out);
}

namespace {

std::vector<Column> destination_columns(bool with_rates) {
  std::vector<Column> c{{"ID", Align::right}, {"DESTINATION"}, {"FRAMING"}, {"STATE"},
                        {"SENT (msg)", Align::right}, {"SENT", Align::right}};
  if (with_rates) {
    c.push_back({"RATE", Align::right});
    c.push_back({"THROUGHPUT", Align::right});
  }
  for (Column extra : {Column{"LAG (msg)", Align::right}, Column{"LAG", Align::right},
                       Column{"DROPPED LAGGING", Align::right}, Column{"RECONNECTS", Align::right},
                       Column{"LAST ERROR"}}) {
    c.push_back(std::move(extra));
  }
  return c;
}

std::vector<std::string> destination_row(const pb::Destination& d, const StatsRates* rates) {
  const auto& n = d.counters();
  std::vector<std::string> row{count(d.id()), d.address(), framing_name(d.framing()), state_name(d.state()),
                               count(n.sent_messages()), format_bytes(static_cast<double>(n.sent_bytes()))};
  if (rates) {
    const auto it = rates->destinations.find(d.id());
    row.push_back(it == rates->destinations.end() ? "-" : format_message_rate(it->second.messages));
    row.push_back(it == rates->destinations.end() ? "-" : format_byte_rate(it->second.bytes));
  }
  for (std::string cell : {count(d.lag_messages()), format_seconds(d.lag_seconds()), count(n.dropped_lagging()),
                           count(n.reconnects()), d.last_error()}) {
    row.push_back(std::move(cell));
  }
  return row;
}

void print_destination_table(std::ostream& out, const google::protobuf::RepeatedPtrField<pb::Destination>& all,
                             const StatsRates* rates) {
  if (all.empty()) {
    out << "no destinations\n";
    return;
  }
  Table t(destination_columns(rates != nullptr));
  for (const auto& d : all) t.add_row(destination_row(d, rates));
  t.print(out);
}

std::vector<std::string> listener_row(const std::string& name, const pb::ListenerCounters& n, const Rate* rate,
                                      bool with_rates) {
  std::vector<std::string> row{name, count(n.received_messages()),
                               format_bytes(static_cast<double>(n.received_bytes()))};
  if (with_rates) {
    row.push_back(rate ? format_message_rate(rate->messages) : "-");
    row.push_back(rate ? format_byte_rate(rate->bytes) : "-");
  }
  for (auto v : {n.dropped_queue_full(), n.kernel_drops(), n.dropped_oversized(), n.receive_errors()}) {
    row.push_back(count(v));
  }
  return row;
}

void print_listener_table(std::ostream& out, const pb::Stats& s, const StatsRates* rates) {
  std::vector<Column> c{{"LISTENER"}, {"RECEIVED (msg)", Align::right}, {"RECEIVED", Align::right}};
  if (rates) {
    c.push_back({"RATE", Align::right});
    c.push_back({"THROUGHPUT", Align::right});
  }
  for (const char* title : {"QUEUE FULL (msg)", "KERNEL DROPS (msg)", "OVERSIZED (msg)", "ERRORS"}) {
    c.push_back({title, Align::right});
  }
  Table t(std::move(c));
  for (const auto& l : s.listeners()) {
    const Rate* r = nullptr;
    if (rates) {
      if (auto it = rates->listeners.find(l.address()); it != rates->listeners.end()) r = &it->second;
    }
    t.add_row(listener_row(l.address(), l.counters(), r, rates != nullptr));
  }
  const Rate* all = rates && rates->received ? &*rates->received : nullptr;
  t.add_row(listener_row("all", s.received(), all, rates != nullptr));
  t.print(out);
}

void print_queue_table(std::ostream& out, const pb::Queue& q) {
  Table t({{"QUEUE TAIL", Align::right}, {"HEAD", Align::right}, {"RECLAIM POINT", Align::right},
           {"IN USE", Align::right}, {"BUDGET", Align::right}, {"SEGMENTS", Align::right},
           {"EVICTIONS", Align::right}});
  t.add_row({count(q.tail()), count(q.head()), count(q.reclaim_point()),
             format_bytes(static_cast<double>(q.bytes_in_use())), format_bytes(static_cast<double>(q.max_queue_bytes())),
             count(q.segments_in_use()), count(q.evictions())});
  t.print(out);
}

}  // namespace

void print_destinations(std::ostream& out, const pb::ListDestinationsResponse& list) {
  print_destination_table(out, list.destinations(), nullptr);
}

void print_stats(std::ostream& out, const pb::Stats& stats, const StatsRates* rates) {
  out << "uptime " << format_uptime(stats.uptime_seconds()) << "   ingest wait "
      << static_cast<long long>(stats.ingest_wait_seconds() * 1e6) << " us\n\n";
  print_listener_table(out, stats, rates);
  out << '\n';
  print_queue_table(out, stats.queue());
  out << '\n';
  print_destination_table(out, stats.destinations(), rates);
}

void print_info(std::ostream& out, const pb::Info& info) {
  Table t({{"FIELD"}, {"VALUE"}});
  t.add_row({"version", info.version()});
  t.add_row({"uptime", format_uptime(info.uptime_seconds())});
  t.add_row({"control", info.control_address()});
  t.add_row({"max queue", format_bytes(static_cast<double>(info.limits().max_queue_bytes()))});
  t.add_row({"max message", fmt::format("{} bytes", info.limits().max_message_bytes())});
  t.add_row({"max destinations", count(info.limits().max_destinations())});
  for (const auto& l : info.listeners()) {
    const auto rcvbuf = l.rcvbuf_granted_bytes();
    t.add_row({"listener", rcvbuf > 0 ? fmt::format("{} (rcvbuf {})", l.address(), format_bytes(static_cast<double>(rcvbuf)))
                                      : l.address()});
  }
  t.print(out);
}

}  // namespace relayctl
