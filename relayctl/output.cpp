#include "output.hpp"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <string_view>

#include "counter_fields.hpp"
#include "table.hpp"
#include "units.hpp"

namespace relayctl {

namespace pb = relay::v1;

void print_json(std::ostream& out, const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;     // the names documented in relay.proto
  opts.always_print_primitive_fields = true;  // a zero counter is present, not missing
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
std::string bytes(std::uint64_t v) { return format_bytes(static_cast<double>(v)); }

}  // namespace

std::string framing_name(pb::Framing f) {
  return f == pb::FRAMING_UNSPECIFIED ? "-" : enum_word(pb::Framing_Name(f), "FRAMING_");  // kafka@, nats@
}
std::string state_name(pb::DestinationState s) { return enum_word(pb::DestinationState_Name(s), "DESTINATION_STATE_"); }
std::string origin_name(pb::Origin o) { return enum_word(pb::Origin_Name(o), "ORIGIN_"); }

std::string column_title(std::string_view name) {
  std::string t(name);
  std::ranges::transform(t, t.begin(),
                         [](char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); });
  return t;
}

std::string format_counter(std::uint64_t value, std::string_view unit) {
  if (unit == "bytes") return bytes(value);
  return fmt::format("{} {}", value, unit);
}

void print_destination(std::ostream& out, const pb::Destination& d) {
  Table t({{"FIELD"}, {"VALUE", Align::right}, {"UNIT"}});
  t.add_row({"id", count(d.id())});
  t.add_row({"address", d.address()});
  t.add_row({"framing", framing_name(d.framing())});
  t.add_row({"state", state_name(d.state())});
  t.add_row({"origin", origin_name(d.origin())});
  t.add_row({"cursor", count(d.cursor()), "message id"});
  t.add_row({"delivery", d.delivery() == pb::DELIVERY_AT_MOST_ONCE ? "at-most-once" : "at-least-once"});
  t.add_row({"lag_messages", count(d.lag_messages()), "messages"});
  t.add_row({"unacked_messages", count(d.unacked_messages()), "messages"});
  t.add_row({"lag_seconds", fmt::format("{:.3f}", d.lag_seconds()), "seconds"});
  for (const auto& f : kDestinationCounterFields) {
    const std::uint64_t v = (d.counters().*f.get)();
    const std::string human = f.unit == "bytes" && v >= 1024 ? " (" + bytes(v) + ")" : "";
    t.add_row({std::string(f.name), count(v), std::string(f.unit) + human});
  }
  t.add_row({"last_error", d.last_error().empty() ? "-" : d.last_error()});
  t.print(out);
}

namespace {

// One column per counter of the table, in its order: a counter added there appears here.
template <typename Message, std::size_t N>
void add_counter_columns(std::vector<Column>& columns, const std::array<CounterField<Message>, N>& fields) {
  for (const auto& f : fields) columns.push_back({column_title(f.name), Align::right});
}

template <typename Message, std::size_t N>
void add_counter_cells(std::vector<std::string>& row, const Message& counters,
                       const std::array<CounterField<Message>, N>& fields) {
  for (const auto& f : fields) {
    const std::uint64_t v = (counters.*f.get)();
    row.push_back(f.unit == "bytes" ? bytes(v) : count(v));
  }
}

// Watch mode: per-second rates of the two counters named, titled after them ("SENT_BYTES/s").
void add_rate_columns(std::vector<Column>& columns, std::string_view messages, std::string_view byte_count) {
  columns.push_back({column_title(messages) + "/s", Align::right});
  columns.push_back({column_title(byte_count) + "/s", Align::right});
}

void add_rate_cells(std::vector<std::string>& row, const Rate* rate) {
  row.push_back(rate ? format_message_rate(rate->messages) : "-");
  row.push_back(rate ? format_byte_rate(rate->bytes) : "-");
}

template <typename Key>
const Rate* find_rate(const std::map<Key, Rate>& rates, const Key& key) {
  const auto it = rates.find(key);
  return it == rates.end() ? nullptr : &it->second;
}

std::vector<Column> destination_columns(bool with_rates) {
  std::vector<Column> c{{"ID", Align::right}, {"ADDRESS"}, {"FRAMING"}, {"STATE"}, {"ORIGIN"}};
  if (with_rates) add_rate_columns(c, "sent_messages", "sent_bytes");
  for (const char* name : {"cursor", "lag_messages", "lag_seconds"}) c.push_back({column_title(name), Align::right});
  add_counter_columns(c, kDestinationCounterFields);
  c.push_back({column_title("last_error")});
  return c;
}

std::vector<std::string> destination_row(const pb::Destination& d, const StatsRates* rates) {
  std::vector<std::string> row{count(d.id()), d.address(), framing_name(d.framing()), state_name(d.state()),
                               origin_name(d.origin())};
  if (rates) add_rate_cells(row, find_rate(rates->destinations, d.id()));
  for (std::string cell : {count(d.cursor()), count(d.lag_messages()), format_seconds(d.lag_seconds())}) {
    row.push_back(std::move(cell));
  }
  add_counter_cells(row, d.counters(), kDestinationCounterFields);
  row.push_back(d.last_error());
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

std::vector<std::string> listener_row(const std::string& address, const pb::ListenerCounters& n, const Rate* rate,
                                      bool with_rates) {
  std::vector<std::string> row{address};
  if (with_rates) add_rate_cells(row, rate);
  add_counter_cells(row, n, kListenerCounterFields);
  return row;
}

// One row per listener, then "all": Stats.received, every listener summed.
void print_listener_table(std::ostream& out, const pb::Stats& s, const StatsRates* rates) {
  std::vector<Column> c{{"ADDRESS"}};
  if (rates) add_rate_columns(c, "received_messages", "received_bytes");
  add_counter_columns(c, kListenerCounterFields);
  Table t(std::move(c));
  for (const auto& l : s.listeners()) {
    t.add_row(listener_row(l.address(), l.counters(), rates ? find_rate(rates->listeners, l.address()) : nullptr,
                           rates != nullptr));
  }
  const Rate* all = rates && rates->received ? &*rates->received : nullptr;
  t.add_row(listener_row("all", s.received(), all, rates != nullptr));
  t.print(out);
}

// With --data-dir (max_disk_bytes > 0) the queue's files get a second table below the first.
void print_disk_table(std::ostream& out, const pb::Queue& q) {
  std::vector<Column> c;
  for (const char* name :
       {"disk_bytes_in_use", "max_disk_bytes", "sync_errors", "recovered_messages", "damaged_messages"}) {
    c.push_back({column_title(name), Align::right});
  }
  Table t(std::move(c));
  t.add_row({bytes(q.disk_bytes_in_use()), bytes(q.max_disk_bytes()), count(q.sync_errors()),
             count(q.recovered_messages()), count(q.damaged_messages())});
  t.print(out);
}

void print_queue_table(std::ostream& out, const pb::Queue& q) {
  std::vector<Column> c;
  for (const char* name :
       {"tail", "head", "reclaim_point", "segments_in_use", "bytes_in_use", "max_queue_bytes", "evictions"}) {
    c.push_back({column_title(name), Align::right});
  }
  Table t(std::move(c));
  t.add_row({count(q.tail()), count(q.head()), count(q.reclaim_point()), count(q.segments_in_use()),
             bytes(q.bytes_in_use()), bytes(q.max_queue_bytes()), count(q.evictions())});
  t.print(out);
  if (q.max_disk_bytes() > 0) print_disk_table(out, q);
}

}  // namespace

void print_destinations(std::ostream& out, const pb::ListDestinationsResponse& list) {
  print_destination_table(out, list.destinations(), nullptr);
}

// Sections are headed by their Stats field names, as the tables' columns are.
void print_stats(std::ostream& out, const pb::Stats& stats, const StatsRates* rates) {
  out << "uptime_seconds " << format_uptime(stats.uptime_seconds()) << "   ingest_wait_seconds "
      << fmt::format("{:.6f}", stats.ingest_wait_seconds()) << "\n\nlisteners\n";
  print_listener_table(out, stats, rates);
  out << "\nqueue\n";
  print_queue_table(out, stats.queue());
  out << "\ndestinations\n";
  print_destination_table(out, stats.destinations(), rates);
}

void print_info(std::ostream& out, const pb::Info& info) {
  Table t({{"FIELD"}, {"VALUE"}});
  t.add_row({"version", info.version()});
  t.add_row({"uptime_seconds", format_uptime(info.uptime_seconds())});
  t.add_row({"control_address", info.control_address()});
  const auto& sec = info.security();
  t.add_row({"control_security", fmt::format("{}{}{}", sec.tls() ? "tls" : "plaintext",
                                             sec.client_certificates_required() ? ", client certificates required" : "",
                                             sec.credentials_required() ? ", credentials required" : "")});
  t.add_row({"caller", fmt::format("{} (role {}) from {}", info.caller().identity(), info.caller().role(),
                                   info.caller().peer())});
  t.add_row({"max_queue_bytes", bytes(info.limits().max_queue_bytes())});
  t.add_row({"max_message_bytes", fmt::format("{} bytes", info.limits().max_message_bytes())});
  t.add_row({"max_destinations", count(info.limits().max_destinations())});
  for (const auto& l : info.listeners()) {
    const auto rcvbuf = l.rcvbuf_granted_bytes();
    t.add_row({"listeners", rcvbuf > 0 ? fmt::format("{} (rcvbuf_granted_bytes {})", l.address(),
                                                     bytes(static_cast<std::uint64_t>(rcvbuf)))
                                       : l.address()});
  }
  t.print(out);
}

void print_caller(std::ostream& out, const pb::Caller& caller) {
  Table t({{"FIELD"}, {"VALUE"}});
  t.add_row({"identity", caller.identity()});
  t.add_row({"role", caller.role()});
  t.add_row({"peer", caller.peer()});
  t.print(out);
}

void print_reload(std::ostream& out, const relay::v1::ReloadResponse& r) {
  out << "reloaded " << r.config_file() << '\n';
  const auto lines = [&](const auto& list, const char* what) {
    for (const auto& item : list) out << what << item << '\n';
  };
  lines(r.removed(), "removed ");
  lines(r.added(), "added ");
  lines(r.replaced(), "replaced ");
  lines(r.listeners_removed(), "removed listener ");
  lines(r.listeners_added(), "added listener ");
  lines(r.applied(), "applied ");
  lines(r.restart_required(), "restart needed for ");
  lines(r.failed(), "failed: ");
  if (r.removed().empty() && r.added().empty() && r.applied().empty() && r.failed().empty() &&
      r.listeners_removed().empty() && r.listeners_added().empty())
    out << "no change\n";
}

}  // namespace relayctl
