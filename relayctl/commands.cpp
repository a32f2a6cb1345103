#include "commands.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>
#include <memory>
#include <optional>

#include "duration.hpp"
#include "output.hpp"
#include "watch.hpp"

namespace relayctl {

namespace pb = relay::v1;
using std::chrono::milliseconds;

namespace {

CLI::Validator duration_check(milliseconds min = milliseconds{0}) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        if (auto err = duration_error(text); !err.empty()) return err;
        if (parse_duration(text) < min) return "must be at least " + std::to_string(min.count()) + "ms";
        return {};
      },
      "DUR");
}

// The proto enum value for a CLI word, through the enum's own names ("line" → FRAMING_LINE).
template <typename Enum, bool (*Parse)(const std::string&, Enum*)>
Enum enum_from_word(std::string_view prefix, const std::string& word) {
  std::string name(prefix);
  for (char c : word) name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Enum value{};
  Parse(name, &value);  // the CLI already checked membership
  return value;
}

// "tcp@" may be left out of a destination address.
std::string destination_address(const std::string& text) {
  return text.find('@') == std::string::npos ? "tcp@" + text : text;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::ranges::all_of(text, [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// The whole of `text` as a u64, or nothing (not a number, or out of range).
std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// ID or ADDR: all digits is an id, and must fit the API's uint64.
const CLI::Validator kTargetCheck(
    [](std::string& text) -> std::string {
      if (!all_digits(text) || parse_u64(text)) return {};
      return "destination id " + text + " is too large (at most " +
             std::to_string(std::numeric_limits<std::uint64_t>::max()) + ")";
    },
    "ID|ADDR");

// A count of 1 or more. CLI11's PositiveNumber prints its bounds as 300-digit doubles.
const CLI::Validator kCountCheck(
    [](std::string& text) -> std::string {
      const auto n = all_digits(text) ? parse_u64(text) : std::nullopt;
      return n && *n >= 1 ? std::string{} : "must be a whole number from 1 to 2^64-1, not " + text;
    },
    "N");

template <typename Request>
void set_target(Request& req, const std::string& text) {
  if (all_digits(text)) {
    req.set_id(*parse_u64(text));  // kTargetCheck has checked it fits
  } else {
    req.set_address(destination_address(text));
  }
}

void print_destination_result(Session& s, const pb::Destination& d, std::string_view verb) {
  if (s.json()) return print_json(s.out(), d);
  s.out() << "destination " << d.id() << ' ' << verb << ": " << d.address() << " (" << framing_name(d.framing()) << ", "
          << state_name(d.state()) << ")\n";
}

// ---- dest add ----
struct AddArgs {
  std::string address;
  std::string framing;
  std::string start = "tail";
  std::uint64_t replace = 0;
};

Runner define_dest_add(CLI::App& cmd) {
  auto a = std::make_shared<AddArgs>();
  cmd.add_option("ADDR", a->address,
                 "tcp@HOST:PORT[?framing=F] (\"tcp@\" may be left out), tls@, kafka@, nats@, or a group: "
                 "hash@, any@, failover@HOST:PORT,HOST:PORT...")
      ->required();
  cmd.add_option("--replace", a->replace,
                 "take over from destination ID at its cursor, without loss, and remove it (e.g. a group's new "
                 "members)");
  cmd.add_option("--framing", a->framing, "override the address's framing")
      ->check(CLI::IsMember({"lp32le", "lp32be", "line", "raw"}));
  cmd.add_option("--start", a->start,
                 "where its cursor starts: tail (new messages only) or head (the oldest message still in the queue)")
      ->check(CLI::IsMember({"tail", "head"}))
      ->capture_default_str();
  return [a](Session& s) -> int {
    pb::AddDestinationRequest req;
    req.set_address(destination_address(a->address));
    if (!a->framing.empty()) req.set_framing(enum_from_word<pb::Framing, pb::Framing_Parse>("FRAMING_", a->framing));
    req.set_start(enum_from_word<pb::Start, pb::Start_Parse>("START_", a->start));
    req.set_replaces(a->replace);
    pb::Destination resp;
    auto ctx = s.context();
    s.check(s.relay().AddDestination(ctx.get(), req, &resp));
    print_destination_result(s, resp, a->replace != 0 ? "added, replacing " + std::to_string(a->replace) : "added");
    return kExitOk;
  };
}

// ---- dest rm ----
struct RemoveArgs {
  std::string target;
  bool drain = false;
  std::string drain_timeout = "5s";
};

void print_removed(Session& s, const pb::Destination& d) {
  if (s.json()) return print_json(s.out(), d);
  s.out() << "destination " << d.id() << " removed: " << d.address() << "; sent "
          << format_counter(d.counters().sent_messages(), "messages") << ", dropped "
          << format_counter(d.counters().dropped_removed(), "messages") << " still queued\n";
}

Runner define_dest_rm(CLI::App& cmd) {
  auto a = std::make_shared<RemoveArgs>();
  cmd.add_option("TARGET", a->target, "destination id or address")->check(kTargetCheck)->required();
  auto* drain = cmd.add_flag("--drain", a->drain, "write what is queued for it before closing");
  cmd.add_option("--drain-timeout", a->drain_timeout, "longest drain; the rest is dropped")
      ->check(duration_check())
      ->capture_default_str()
      ->needs(drain);
  return [a](Session& s) -> int {
    pb::RemoveDestinationRequest req;
    set_target(req, a->target);
    milliseconds waits{0};
    if (a->drain) {
      req.set_drain(true);
      waits = parse_duration(a->drain_timeout);
      set_duration(*req.mutable_drain_timeout(), waits);
    }
    pb::Destination resp;
    auto ctx = s.context(waits);  // the call lasts as long as the drain may
    s.check(s.relay().RemoveDestination(ctx.get(), req, &resp));
    print_removed(s, resp);
    return kExitOk;
  };
}

// ---- dest ls / dest get ----
Runner define_dest_ls(CLI::App&) {
  return [](Session& s) -> int {
    pb::ListDestinationsResponse resp;
    auto ctx = s.context();
    s.check(s.relay().ListDestinations(ctx.get(), {}, &resp));
    s.json() ? print_json(s.out(), resp) : print_destinations(s.out(), resp);
    return kExitOk;
  };
}

Runner define_dest_get(CLI::App& cmd) {
  auto target = std::make_shared<std::string>();
  cmd.add_option("TARGET", *target, "destination id or address")->check(kTargetCheck)->required();
  return [target](Session& s) -> int {
    pb::GetDestinationRequest req;
    set_target(req, *target);
    pb::Destination resp;
    auto ctx = s.context();
    s.check(s.relay().GetDestination(ctx.get(), req, &resp));
    s.json() ? print_json(s.out(), resp) : print_destination(s.out(), resp);
    return kExitOk;
  };
}

// ---- stats ----
struct StatsArgs {
  bool watch = false;
  std::string interval = "1s";
  std::uint64_t count = 0;
};

Runner define_stats(CLI::App& cmd) {
  auto a = std::make_shared<StatsArgs>();
  auto* watch = cmd.add_flag("--watch,-w", a->watch, "redraw on every new snapshot, with rates, until Ctrl-C");
  cmd.add_option("--interval,-i", a->interval, "time between snapshots (at least 100ms)")
      ->check(duration_check(milliseconds{100}))
      ->capture_default_str()
      ->needs(watch);
  cmd.add_option("--count,-n", a->count, "stop after N snapshots")->check(kCountCheck)->needs(watch);
  return [a](Session& s) -> int {
    if (a->watch) return watch_stats(s, {parse_duration(a->interval), a->count});
    pb::Stats resp;
    auto ctx = s.context();
    s.check(s.relay().GetStats(ctx.get(), {}, &resp));
    s.json() ? print_json(s.out(), resp) : print_stats(s.out(), resp);
    return kExitOk;
  };
}

// ---- info / health ----
Runner define_info(CLI::App&) {
  return [](Session& s) -> int {
    pb::Info resp;
    auto ctx = s.context();
    s.check(s.relay().GetInfo(ctx.get(), {}, &resp));
    s.json() ? print_json(s.out(), resp) : print_info(s.out(), resp);
    return kExitOk;
  };
}

// The identity relayd took this caller for, as its access policy and audit log see it.
Runner define_whoami(CLI::App&) {
  return [](Session& s) -> int {
    pb::Info resp;
    auto ctx = s.context();
    s.check(s.relay().GetInfo(ctx.get(), {}, &resp));
    s.json() ? print_json(s.out(), resp.caller()) : print_caller(s.out(), resp.caller());
    return kExitOk;
  };
}

// The config file read again and applied, as SIGHUP does; what changed, one line each.
Runner define_reload(CLI::App&) {
  return [](Session& s) -> int {
    pb::ReloadResponse resp;
    auto ctx = s.context();
    s.check(s.relay().Reload(ctx.get(), {}, &resp));
    s.json() ? print_json(s.out(), resp) : print_reload(s.out(), resp);
    return resp.failed().empty() ? kExitOk : kExitRefused;
  };
}

Runner define_health(CLI::App& cmd) {
  auto service = std::make_shared<std::string>();
  cmd.add_option("--service", *service, "service to ask about; empty means relayd as a whole");
  return [service](Session& s) -> int {
    using grpc::health::v1::HealthCheckResponse;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(*service);
    HealthCheckResponse resp;
    auto ctx = s.context();
    s.check(s.health().Check(ctx.get(), req, &resp));
    if (s.json()) {
      print_json(s.out(), resp);
    } else {
      s.out() << HealthCheckResponse::ServingStatus_Name(resp.status()) << '\n';
    }
    if (resp.status() != HealthCheckResponse::SERVING) {
      throw CommandError(kExitRefused, "not serving: " + HealthCheckResponse::ServingStatus_Name(resp.status()));
    }
    return kExitOk;
  };
}

constexpr std::array kCommands{
    CommandSpec{"dest", "add", "add a destination", define_dest_add},
    CommandSpec{"dest", "rm", "remove a destination", define_dest_rm},
    CommandSpec{"dest", "ls", "list destinations", define_dest_ls},
    CommandSpec{"dest", "get", "show one destination and all its counters", define_dest_get},
    CommandSpec{"", "stats", "show listeners, queue and destinations (--watch: live, with rates)", define_stats},
    CommandSpec{"", "info", "show version, uptime, listeners and limits", define_info},
    CommandSpec{"", "whoami", "show the identity and role relayd gives this caller", define_whoami},
    CommandSpec{"", "reload", "read relayd's --config file again and apply it, as SIGHUP does", define_reload},
    CommandSpec{"", "health", "ask relayd's health service (exit 0 when SERVING)", define_health},
};

}  // namespace

std::span<const CommandSpec> command_table() { return kCommands; }

std::string_view group_help(std::string_view group) { return group == "dest" ? "manage destinations" : ""; }

}  // namespace relayctl
