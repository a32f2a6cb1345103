#include "config_file.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "did_you_mean.hpp"
#include "usage_error.hpp"

namespace relay {

namespace {

// What TOML type a key takes, and how its value is written for the flag.
enum class Kind {
  text,     // a string
  size,     // "256MiB" (the flag's suffixes) or an integer of bytes
  integer,  // an integer
  seconds,  // an integer or a float
  flag,     // true or false
  mode,     // "0660" or 0o660
};

struct KeyDef {
  std::string_view section;
  std::string_view name;
  std::string_view flag;
  Kind kind;
};

// The schema (docs/CONFIG.md): every flag but the addresses, which are `listeners` and
// [[destination]], and --config/--check-config themselves.
constexpr KeyDef kKeys[] = {
    {"queue", "max_bytes", "--max-queue-bytes", Kind::size},
    {"queue", "max_message_size", "--max-message-size", Kind::integer},
    {"queue", "data_dir", "--data-dir", Kind::text},
    {"queue", "max_disk_bytes", "--max-disk-bytes", Kind::size},
    {"queue", "fsync", "--fsync", Kind::text},
    {"queue", "sync_interval", "--sync-interval", Kind::seconds},
    {"ingest", "rcvbuf", "--rcvbuf", Kind::size},
    {"ingest", "batch", "--batch", Kind::integer},
    {"ingest", "coalesce_us", "--coalesce-us", Kind::integer},
    {"ingest", "udp_gro", "--udp-gro", Kind::flag},
    {"ingest", "max_connections", "--max-connections", Kind::integer},
    {"ingest", "idle_timeout", "--ingest-idle-timeout", Kind::seconds},
    {"delivery", "max_destinations", "--max-destinations", Kind::integer},
    {"delivery", "reconnect_min", "--reconnect-min", Kind::seconds},
    {"delivery", "reconnect_max", "--reconnect-max", Kind::seconds},
    {"delivery", "connect_timeout", "--connect-timeout", Kind::seconds},
    {"delivery", "drain_timeout", "--drain-timeout", Kind::seconds},
    {"control", "address", "--control", Kind::text},
    {"control", "tls_cert", "--control-tls-cert", Kind::text},
    {"control", "tls_key", "--control-tls-key", Kind::text},
    {"control", "tls_client_ca", "--control-tls-client-ca", Kind::text},
    {"control", "token_file", "--control-token-file", Kind::text},
    {"control", "insecure", "--control-insecure", Kind::flag},
    {"control", "socket_mode", "--control-socket-mode", Kind::mode},
    {"control", "socket_group", "--control-socket-group", Kind::text},
    {"log", "level", "--log-level", Kind::text},
    {"log", "stats_interval", "--stats-interval", Kind::seconds},
    {"metrics", "address", "--metrics", Kind::text},
    {"state", "dir", "--state-dir", Kind::text},
};

constexpr std::string_view kListeners = "listeners";
constexpr std::string_view kDestination = "destination";
const std::vector<std::string_view> kTopLevel = {kListeners, kDestination, "queue",   "ingest", "delivery",
                                                 "control",  "log",        "metrics", "state"};
// A [[destination]] table: the address, and its options as separate keys (endpoint.hpp).
const std::vector<std::string_view> kDestinationKeys = {"address", "framing", "delivery", "ca",
                                                        "sni",     "cert",    "key",      "verify"};

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

std::string_view expected(Kind k) {
  switch (k) {
    case Kind::text: return "a string";
    case Kind::size: return "a size: a string such as \"256MiB\" or an integer of bytes";
    case Kind::integer: return "an integer";
    case Kind::seconds: return "a number of seconds";
    case Kind::flag: return "true or false";
    case Kind::mode: return "an octal mode: \"0660\" or 0o660";
  }
  return "";
}

// The text the flag would be given, or nothing when the TOML type is wrong for the key.
std::optional<std::string> flag_text(Kind k, const toml::node& n) {
  if (const auto* s = n.as_string(); s && (k == Kind::text || k == Kind::size || k == Kind::mode)) return s->get();
  if (const auto* i = n.as_integer()) {
    const std::int64_t v = i->get();
    if (k == Kind::size || k == Kind::integer || k == Kind::seconds) return fmt::format("{}", v);
    // A decimal 660 is not the mode 0660: only an integer written in octal is taken as one.
    const bool octal = (i->flags() & toml::value_flags::format_as_octal) == toml::value_flags::format_as_octal;
    if (k == Kind::mode && octal) return fmt::format("{:04o}", v);
  }
  if (const auto* f = n.as_floating_point(); f && k == Kind::seconds) return fmt::format("{}", f->get());
  if (const auto* b = n.as_boolean(); b && k == Kind::flag) return b->get() ? "true" : "false";
  return std::nullopt;
}

std::string joined(std::string_view section, std::string_view name) {
  return section.empty() ? std::string(name) : fmt::format("{}.{}", section, name);
}

// Why `name` is not a key of `section` ("" is the top level), with the key meant if one is near:
// a flag's spelling (log-level), a key of another section, or a typo.
std::string unknown_key(std::string_view section, std::string_view name, const std::vector<std::string_view>& known) {
  std::string bare(name);
  for (char& c : bare) c = c == '_' ? '-' : c;
  if (bare == "listen") return fmt::format("unknown key (did you mean {}? --listen's list in the file)", kListeners);
  for (const auto& k : kKeys)
    if (k.flag.substr(2) == bare)
      return fmt::format("unknown key (did you mean {}? the file's name for {})", joined(k.section, k.name), k.flag);
  for (const auto& k : kKeys)
    if (k.name == name && k.section != section)
      return fmt::format("unknown key (did you mean {}? it belongs in [{}])", joined(k.section, k.name), k.section);
  if (const auto near = did_you_mean(name, known)) return fmt::format("unknown key (did you mean {}?)", *near);
  return fmt::format("unknown key (known here: {})", fmt::join(known, ", "));
}

class Reader {
 public:
  explicit Reader(std::string path) { out_.path = std::move(path); }

  // toml++ keeps a table's keys sorted by name: settings and faults are put back in file order,
  // so errors read top to bottom and a setting's checks run in the order it was written.
  ConfigFile read(const toml::table& root) {
    for (const auto& [key, node] : root) read_top(key, node);
    const auto by_place = [](const auto& a, const auto& b) { return a.first < b.first; };
    if (!faults_.empty()) {
      std::stable_sort(faults_.begin(), faults_.end(), by_place);
      std::vector<std::string> lines;
      for (auto& f : faults_) lines.push_back(std::move(f.second));
      throw UsageError(std::move(lines));
    }
    std::stable_sort(out_.settings.begin(), out_.settings.end(), [](const FileSetting& a, const FileSetting& b) {
      return std::pair(a.where.line, a.where.column) < std::pair(b.where.line, b.where.column);
    });
    return std::move(out_);
  }

 private:
  FilePlace place(const toml::source_region& r) const { return {out_.path, r.begin.line, r.begin.column}; }

  void fault(const toml::source_region& r, std::string_view key, std::string_view why) {
    faults_.emplace_back(std::pair(r.begin.line, r.begin.column), fmt::format("{}: {}: {}", place(r).str(), key, why));
  }

  void read_top(const toml::key& key, const toml::node& node) {
    const std::string_view name = key.str();
    if (name == kListeners) return read_listeners(node);
    if (name == kDestination) return read_destinations(node);
    if (std::find(kTopLevel.begin(), kTopLevel.end(), name) == kTopLevel.end()) {
      // A scalar key of a section written at the top level is the likelier mistake than a typo.
      return fault(key.source(), name, unknown_key("", name, kTopLevel));
    }
    const auto* table = node.as_table();
    if (!table)
      return fault(node.source(), name, fmt::format("expected a table ([{}]), not {}", name, type_name(node)));
    for (const auto& [k, v] : *table) read_setting(name, k, v);
  }

  void read_setting(std::string_view section, const toml::key& key, const toml::node& node) {
    std::vector<std::string_view> known;
    for (const auto& def : kKeys) {
      if (def.section != section) continue;
      known.push_back(def.name);
      if (def.name != key.str()) continue;
      const std::string full = joined(section, def.name);
      const auto text = flag_text(def.kind, node);
      if (!text)
        return fault(node.source(), full, fmt::format("expected {}, not {}", expected(def.kind), type_name(node)));
      out_.settings.push_back({full, std::string(def.flag), *text, place(node.source())});
      return;
    }
    fault(key.source(), joined(section, key.str()), unknown_key(section, key.str(), known));
  }

  void read_listeners(const toml::node& node) {
    const auto* array = node.as_array();
    if (!array)
      return fault(node.source(), kListeners, fmt::format("expected an array of addresses, not {}", type_name(node)));
    if (array->empty())
      return fault(node.source(), kListeners,
                   "needs at least one listener (leave it out for the default, udp@127.0.0.1:2008)");
    auto& list = out_.listeners.emplace();
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& item = *array->get(i);
      const std::string key = fmt::format("{}[{}]", kListeners, i);
      if (const auto* s = item.as_string())
        list.push_back({s->get(), key, place(item.source())});
      else
        fault(item.source(), key,
              fmt::format("expected an address string such as \"udp@0.0.0.0:2008\", not {}", type_name(item)));
    }
  }

  // [[destination]] tables, or address strings (destination = ["tcp@HOST:PORT", ...]).
  void read_destinations(const toml::node& node) {
    const auto* array = node.as_array();
    if (!array)
      return fault(node.source(), kDestination,
                   fmt::format("expected [[destination]] tables, not {}", type_name(node)));
    auto& list = out_.destinations.emplace();
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& item = *array->get(i);
      const std::string key = fmt::format("{}[{}]", kDestination, i);
      if (const auto* s = item.as_string())
        list.push_back({s->get(), key, place(item.source())});
      else if (const auto* t = item.as_table())
        read_destination_table(*t, key, list);
      else
        fault(item.source(), key,
              fmt::format("expected a [[destination]] table or an address string, not {}", type_name(item)));
    }
  }

  // address = "tls@HOST:PORT" with framing = "line", ca = "/PATH", ... becomes the command line's
  // "tls@HOST:PORT?framing=line&ca=/PATH": parse_endpoint judges both the same way.
  void read_destination_table(const toml::table& t, const std::string& key, std::vector<FileAddress>& list) {
    const toml::node* address = t.get("address");
    std::vector<std::string> options;
    for (const auto& [k, v] : t) {
      const std::string full = fmt::format("{}.{}", key, k.str());
      if (std::find(kDestinationKeys.begin(), kDestinationKeys.end(), k.str()) == kDestinationKeys.end()) {
        fault(k.source(), full, unknown_key(kDestination, k.str(), kDestinationKeys));
      } else if (k.str() == "verify") {
        if (const auto* b = v.as_boolean())
          options.push_back(b->get() ? "verify=1" : "verify=0");
        else
          fault(v.source(), full, fmt::format("expected true or false, not {}", type_name(v)));
      } else if (!v.is_string()) {
        fault(v.source(), full, fmt::format("expected a string, not {}", type_name(v)));
      } else if (k.str() != "address") {
        options.push_back(fmt::format("{}={}", k.str(), v.as_string()->get()));
      }
    }
    if (!address) return fault(t.source(), key, "needs an address, e.g. address = \"tcp@10.0.0.5:2003\"");
    if (!address->is_string()) return;  // already reported
    std::string text = address->as_string()->get();
    if (!options.empty())
      text += fmt::format("{}{}", text.find('?') == std::string::npos ? '?' : '&', fmt::join(options, "&"));
    list.push_back({std::move(text), key, place(address->source())});
  }

  ConfigFile out_;
  std::vector<std::pair<std::pair<std::uint32_t, std::uint32_t>, std::string>> faults_;  // (line, column), text
};

std::string read_text(const std::string& path) {
  if (std::error_code ec; std::filesystem::is_directory(path, ec))
    throw UsageError(fmt::format("{}: cannot read the config file: it is a directory", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("{}: cannot read the config file: {}", path, std::strerror(errno)));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

std::string FilePlace::str() const { return fmt::format("{}:{}:{}", file, line, column); }

ConfigFile read_config_file(const std::string& path) {
  const std::string text = read_text(path);
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw UsageError(fmt::format("{}:{}:{}: {}", path, at.line, at.column, e.description()));
  }
  return Reader(path).read(root);
}

std::vector<std::pair<std::string, std::string>> config_file_keys() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& k : kKeys) out.emplace_back(joined(k.section, k.name), std::string(k.flag));
  return out;
}

}  // namespace relay
