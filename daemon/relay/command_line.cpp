#include "command_line.hpp"

#include "config_file.hpp"
#include "publisher.hpp"
#include "segment.hpp"
#include "tls_context.hpp"
#include "tls_server_context.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

namespace relay {

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;
// Four segments of the smallest size, as resolve() requires of the actual segment size.
constexpr std::size_t kMinQueueBytes = 4 * kMiB;
// Shorter reconnect delays or connect timeouts only spin a core against a dead peer.
constexpr double kMinDelay = 0.01;

// Segments hold at least a few of the largest messages; 1 MiB otherwise (QUEUE.md "Segments").
std::size_t segment_size_for(std::uint32_t max_message) {
  const std::size_t need = 4 * (std::size_t{max_message} + kRecordHeader);
  const std::size_t granule = 64 * 1024;
  return std::max(kMiB, (need + granule - 1) / granule * granule);
}

struct RawOptions {
  std::string listen = kDefaultListen;
  std::vector<std::string> destinations;
  std::vector<std::string> extra_listeners;
  std::size_t max_queue_bytes = 256 * kMiB;
  std::size_t rcvbuf = 32 * kMiB;
  int coalesce_us = 500;
  bool queue_bytes_given = false;
  std::string socket_mode = "0600";
  std::string fsync = "interval";
};

// civetweb (prometheus-cpp's HTTP server) listens on every address when given a name, so only
// address literals are taken: a typo cannot silently widen who can scrape.
const CLI::Validator kMetricsAddress(
    [](std::string& v) -> std::string {
      const auto colon = v.rfind(':');
      const std::string host = colon == std::string::npos ? v : v.substr(0, colon);
      const std::string port = colon == std::string::npos ? "" : v.substr(colon + 1);
      const bool v6 = host.size() > 2 && host.front() == '[' && host.back() == ']';
      const bool v4 = !host.empty() && host.find_first_not_of("0123456789.") == std::string::npos;
      const bool port_ok = !port.empty() && port.size() <= 5 &&
                           port.find_first_not_of("0123456789") == std::string::npos && std::stoul(port) <= 65535;
      if ((v4 || v6) && port_ok) return {};
      return "expected IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:9108, not " + v;
    },
    "HOST:PORT");

// CLI11's size parser reads "-5" into an unsigned value as a huge number; refuse the sign first.
const CLI::Validator kNotNegative(
    [](std::string& v) { return v.find('-') == std::string::npos ? std::string{} : "must not be negative: " + v; },
    "SIZE");

// A number of seconds in [min, max] (or 0, when that turns the feature off). CLI11's Range lets
// nan through (every comparison with it is false) and prints its bounds with 6 digits, so the
// text is parsed and checked here, and the help states exactly what is checked.
struct Seconds {
  double min, max;
  bool zero_is_off = false;

  std::string range() const { return fmt::format("{}in [{} - {}]", zero_is_off ? "0 (off) or " : "", min, max); }
  bool allows(double v) const { return (zero_is_off && v == 0) || (v >= min && v <= max); }
};

void add_seconds(CLI::App& app, const std::string& name, double& value, const std::string& help, Seconds s) {
  const CLI::Validator check(
      [s](std::string& text) -> std::string {
        double v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        const bool number = ec == std::errc{} && end == text.data() + text.size() && std::isfinite(v);
        if (number && s.allows(v)) return {};
        return fmt::format("must be {} seconds, not {}", s.range(), text);
      },
      s.range());
  app.add_option(name, value, help)->check(check)->option_text(fmt::format("SECONDS {}={}", s.range(), value));
}

// Help text for a size option: what the parser checks, with the binary suffixes people type.
std::string size_text(std::string_view range, std::string_view default_value) {
  return fmt::format("SIZE {}={}", range, default_value);
}

// The control plane's address and protection (docs/SECURITY.md).
void add_control_options(CLI::App& app, RawOptions& raw, std::string& control, ControlOptions& o) {
  const char* group = "Control plane (docs/SECURITY.md)";
  app.add_option("--control", control, "gRPC control address: HOST:PORT, unix:/path, or none")
      ->capture_default_str()
      ->group(group);
  const auto file = CLI::ExistingFile;
  app.add_option("--control-tls-cert", o.tls_cert, "PEM certificate chain: the control port speaks TLS")
      ->check(file)
      ->group(group);
  app.add_option("--control-tls-key", o.tls_key, "PEM private key of --control-tls-cert")->check(file)->group(group);
  app.add_option("--control-tls-client-ca", o.tls_client_ca,
                 "PEM CA bundle: clients must present a certificate it signed (mutual TLS)")
      ->check(file)
      ->group(group);
  app.add_option("--control-token-file", o.token_file,
                 "named bearer tokens and certificate subjects with their role (read, admin); every call "
                 "but health then needs one (relayd certs token NAME)")
      ->check(file)
      ->group(group);
  app.add_flag("--control-insecure", o.insecure,
               "allow plaintext control on a non-loopback address (anyone who reaches it can manage relayd)")
      ->group(group);
  app.add_option("--control-socket-mode", raw.socket_mode, "mode of a unix: control socket, octal")
      ->check(CLI::Validator(
          [](std::string& s) {
            return s.size() >= 3 && s.size() <= 4 && s.find_first_not_of("01234567") == std::string::npos &&
                           std::stoul(s, nullptr, 8) <= 0777
                       ? std::string()
                       : std::string("an octal mode from 000 to 0777, e.g. 0660");
          },
          "MODE"))
      ->capture_default_str()
      ->group(group);
  app.add_option("--control-socket-group", o.socket_group, "group of a unix: control socket (default relayd's)")
      ->group(group);
}

// The disk-backed queue (daemon/queue/QUEUE.md "On disk").
void add_data_options(CLI::App& app, RawOptions& raw, Config& cfg) {
  const char* group = "Disk-backed queue (daemon/queue/QUEUE.md)";
  app.add_option("--data-dir", cfg.queue.data_dir,
                 "Keep the queue in segment files in this directory (created 0700): what destinations have not "
                 "received survives outages longer than --max-queue-bytes lasts and restarts of relayd; "
                 "--max-queue-bytes is then the part kept in memory")
      ->group(group);
  app.add_option("--max-disk-bytes", cfg.queue.max_disk_bytes,
                 "Disk budget of --data-dir's segment files (e.g. 10GiB); destinations that fall further behind "
                 "skip ahead (dropped_lagging)")
      ->check(kNotNegative)
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(kMinQueueBytes, std::size_t{1} << 50))
      ->option_text(size_text("in [4MiB - 1PiB]", "1GiB"))
      ->group(group);
  app.add_option("--fsync", raw.fsync,
                 "When segment files are written to the disk: never (the kernel decides; a crash of relayd loses "
                 "nothing, a power loss may), interval (every --sync-interval), always (before destinations see a "
                 "batch; slow)")
      ->check(CLI::IsMember({"never", "interval", "always"}))
      ->capture_default_str()
      ->group(group);
  add_seconds(app, "--sync-interval", cfg.background.sync_interval,
              "Seconds between writing segments back (--fsync interval) and recording destinations' positions",
              {0.01, 3600});
}

void add_options(CLI::App& app, RawOptions& raw, Config& cfg) {
  app.add_option("LISTEN", raw.listen,
                 "Where messages come in: udp@HOST:PORT[?reuseport=1], tcp@HOST:PORT (lp32le frames) or "
                 "tls@HOST:PORT?cert=PEM&key=PEM[&client_ca=PEM] (lp32le frames inside TLS)")
      ->capture_default_str();
  app.add_option("DEST", raw.destinations,
                 "Destinations: tcp@HOST:PORT[?framing=lp32le|lp32be|line|raw], or "
                 "tls@HOST:PORT[?framing=F&ca=PEM&sni=NAME&cert=PEM&key=PEM&verify=0]");
  app.add_option("--listen", raw.extra_listeners,
                 "Another listener besides LISTEN (repeatable), e.g. --listen udp@[::1]:2008")
      ->allow_extra_args(false);  // one address per --listen: later words stay LISTEN and DEST
  app.add_option(
         "--max-queue-bytes", raw.max_queue_bytes,
         "Queue memory budget (e.g. 256MiB, 1GiB); destinations that fall further behind skip ahead. At least 4 "
         "queue segments: 4MiB up to --max-message-size 262140")
      ->check(kNotNegative)
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(kMinQueueBytes, std::size_t{1} << 40))
      ->option_text(size_text("in [4MiB - 1TiB]", "256MiB"));
  app.add_option("--max-message-size", cfg.ingest.max_message,
                 "Largest message accepted, in bytes; longer ones are counted and dropped. Above 262140 the queue "
                 "segments grow, and --max-queue-bytes must be at least about 16 x (size + 4)")
      ->check(CLI::Range(1U, 16U << 20))
      ->capture_default_str();
  app.add_option("--rcvbuf", raw.rcvbuf, "UDP receive buffer to request (SO_RCVBUF), e.g. 32MiB")
      ->check(kNotNegative)
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 30))  // SO_RCVBUF takes an int
      ->option_text(size_text("in [0 - 1GiB]", "32MiB"));
  app.add_option("--batch", cfg.ingest.batch, "Datagrams per recvmmsg call")
      ->check(CLI::Range(1U, 1024U))
      ->capture_default_str();
  app.add_option("--coalesce-us", raw.coalesce_us,
                 "Under heavy traffic (a wait would collect 128+ messages), microseconds the server thread lets "
                 "datagrams accumulate between polls: less CPU per message for at most this much added latency; "
                 "0 polls at once")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  app.add_flag("--udp-gro", cfg.ingest.udp_gro,
               "Let the kernel hand over trains of same-sized datagrams from one sender as one buffer (UDP_GRO): "
               "much less CPU per message for senders that use UDP GSO, or behind NICs that coalesce UDP");
  add_seconds(app, "--stats-interval", cfg.background.stats_interval,
              "Seconds between statistics log lines; 0 turns them off", {1, 86400, true});
  add_seconds(app, "--drain-timeout", cfg.drain_timeout,
              "Seconds destinations get to flush the queue on SIGTERM/SIGINT", {0, 3600});
  add_seconds(app, "--reconnect-min", cfg.client.destination.reconnect_min,
              "First reconnect delay in seconds (doubles each failure, with jitter)", {kMinDelay, 3600});
  add_seconds(app, "--reconnect-max", cfg.client.destination.reconnect_max, "Longest reconnect delay in seconds",
              {kMinDelay, 3600});
  add_seconds(app, "--connect-timeout", cfg.client.destination.connect_timeout, "Seconds a TCP connect may take",
              {kMinDelay, 3600});
  app.add_option(
         "--max-connections", cfg.ingest.max_connections,
         "Most open connections per TCP listener; more are closed at once (connections_refused). Lowered, with a "
         "warning, to what the open file limit fits after a reserve for control and destinations")
      ->check(CLI::Range(1U, 100000U))
      ->capture_default_str();
  add_seconds(app, "--ingest-idle-timeout", cfg.ingest.idle_timeout,
              "Seconds a TCP ingest connection may send nothing before it is closed; 0: never", {1, 86400, true});
  app.add_option("--max-destinations", cfg.client.max_destinations, "Most destinations at once")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  add_control_options(app, raw, cfg.control, cfg.control_options);
  app.add_option(
         "--metrics", cfg.metrics,
         "Serve Prometheus metrics at http://HOST:PORT/metrics; HOST an IPv4 address or [IPv6] one, port 0: any "
         "free one (docs/METRICS.md)")
      ->check(kMetricsAddress);
  add_data_options(app, raw, cfg);
  app.add_option("--state-dir", cfg.state_dir,
                 "Directory where destinations added or removed through the API are kept across restarts "
                 "(docs/STATE.md); created 0700 if missing. Without it such changes last until relayd stops");
  app.add_flag("--reset-state", cfg.reset_state,
               "Discard the state file of --state-dir at start-up: run the configuration's destinations only");
  app.add_option("--log-level", cfg.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
}

// Where each value came from, so an error about a value names it as the operator wrote it: the
// flag, or the file's key after FILE:LINE:COLUMN. A value neither gave is named as the file
// names it when there is a file (that is where the operator will change it), else as the flag.
class Origins {
 public:
  Origins(const CLI::App& app, bool file_in_use) {
    if (!file_in_use) return;
    for (const auto& [key, flag] : config_file_keys())
      if (app.count(flag) == 0) keys_[flag] = key;
  }
  void from_file(const FileSetting& s) { file_[s.flag] = &s; }
  std::string name(std::string_view flag) const {
    if (const auto it = file_.find(flag); it != file_.end()) return it->second->key;
    if (const auto it = keys_.find(flag); it != keys_.end()) return it->second;
    return std::string(flag);
  }
  // "FILE:LINE:COLUMN: " of the first of `flags` the file gave; "" when the file gave none of them.
  std::string where(std::initializer_list<std::string_view> flags) const {
    for (const auto flag : flags)
      if (const auto it = file_.find(flag); it != file_.end()) return it->second->where.str() + ": ";
    return {};
  }

 private:
  std::map<std::string, const FileSetting*, std::less<>> file_;
  std::map<std::string, std::string, std::less<>> keys_;  // flag -> key, for flags the command line did not give
};

// A listener or destination to parse, and where it was written ("" for the command line).
struct Address {
  std::string text;
  std::string where;  // "FILE:LINE:COLUMN: listeners[0]: "
};

std::vector<Address> file_addresses(const std::vector<FileAddress>& list) {
  std::vector<Address> out;
  for (const auto& a : list) out.push_back({a.text, fmt::format("{}: {}: ", a.where.str(), a.key)});
  return out;
}

// "127.0.0.1:50051", "[::1]:50051", "localhost:50051": only this host can connect.
bool loopback_control(const std::string& address) {
  if (address.starts_with("unix:")) return true;
  const auto colon = address.rfind(':');
  std::string host = address.substr(0, colon == std::string::npos ? address.size() : colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

void resolve_control(const RawOptions& raw, const Origins& o, std::string& control, ControlOptions& c) {
  if (control == "none") control.clear();
  c.socket_mode = static_cast<mode_t>(std::stoul(raw.socket_mode, nullptr, 8));
  const std::string cert = o.name("--control-tls-cert"), key = o.name("--control-tls-key");
  if (c.tls_cert.empty() != c.tls_key.empty())
    throw UsageError(
        fmt::format("{}{} and {} go together", o.where({"--control-tls-cert", "--control-tls-key"}), cert, key));
  if (!c.tls() && c.mutual_tls())
    throw UsageError(
        fmt::format("{}{} needs {}", o.where({"--control-tls-client-ca"}), o.name("--control-tls-client-ca"), cert));
  if (!control.empty() && !c.tls() && !c.insecure && !loopback_control(control))
    throw UsageError(fmt::format(
        "{}refusing to serve control on {} without TLS: anyone who can reach it could add a destination and "
        "receive every message; give {} and {} (relayd certs init), or {} if only trusted hosts can reach it",
        o.where({"--control"}), control, cert, key, o.name("--control-insecure")));
}

std::string absolute_path(const std::string& path);

// The state directory is made absolute so its log lines and errors name it whatever the cwd.
void resolve_state(const Origins& o, Config& cfg) {
  if (cfg.reset_state && cfg.state_dir.empty())
    throw UsageError(fmt::format("--reset-state needs {}: there is no state to discard", o.name("--state-dir")));
  if (!cfg.state_dir.empty()) cfg.state_dir = absolute_path(cfg.state_dir);
}

void resolve_data(const RawOptions& raw, const Origins& o, Config& cfg) {
  QueueConfig& q = cfg.queue;
  q.fsync = raw.fsync == "never" ? Fsync::never : raw.fsync == "always" ? Fsync::always : Fsync::interval;
  if (q.data_dir.empty()) return;
  q.data_dir = absolute_path(q.data_dir);
  if (q.max_disk_bytes < q.max_queue_bytes)
    throw UsageError(fmt::format("{}{} {} is below {} {}: the disk holds the whole queue, memory only its newest part",
                                 o.where({"--max-disk-bytes", "--max-queue-bytes"}), o.name("--max-disk-bytes"),
                                 q.max_disk_bytes, o.name("--max-queue-bytes"), q.max_queue_bytes));
  if (!cfg.state_dir.empty() && cfg.state_dir == q.data_dir)
    throw UsageError(fmt::format("{}{} and {} must be different directories (each takes its own lock)",
                                 o.where({"--data-dir", "--state-dir"}), o.name("--data-dir"), o.name("--state-dir")));
}

// Segments grow with --max-message-size, so a large message size can outgrow a budget that is
// fine on its own (the default one included): the error names the setting that caused it.
void check_budget(const RawOptions& raw, const Origins& o, std::uint32_t max_message, std::size_t segment_bytes) {
  const std::size_t need = 4 * segment_bytes;
  if (raw.max_queue_bytes >= need) return;
  throw UsageError(fmt::format("{}{} {} needs {} of at least {} (4 segments of {} bytes); it is {}{}",
                               o.where({"--max-message-size", "--max-queue-bytes"}), o.name("--max-message-size"),
                               max_message, o.name("--max-queue-bytes"), need, segment_bytes, raw.max_queue_bytes,
                               raw.queue_bytes_given ? "" : " by default"));
}

// Every address is parsed (and resolved) even after a bad one, so one run names every bad one.
std::vector<Endpoint> parse_addresses(const std::vector<Address>& list, bool destinations,
                                      std::vector<std::string>& faults) {
  std::vector<Endpoint> out;
  for (const auto& a : list) {
    try {
      Endpoint ep = parse_endpoint(a.text, destinations);
      if (destinations && ep.transport == Transport::udp)
        throw EndpointError(fmt::format("destination \"{}\": {}", a.text, kDestinationKinds));
      // A publisher's options are checked now too: a bad one is a usage error at start-up.
      if (destinations) check_publisher(ep);
      // A TLS peer's files (CA, certificate, key) are read and checked now, so a bad one is a
      // usage error before anything binds, like a bad address.
      if (ep.tls && destinations) TlsContext::build(ep);
      if (ep.tls && !destinations) TlsServerContext::build(ep);
      out.push_back(std::move(ep));
    } catch (const std::exception& e) {
      faults.push_back(a.where + e.what());
    }
  }
  return out;
}

void resolve(const RawOptions& raw, const Origins& o, const std::vector<Address>& listeners,
             const std::vector<Address>& destinations, Config& cfg) {
  std::vector<std::string> faults;
  cfg.listen = parse_addresses(listeners, false, faults);
  cfg.destinations = parse_addresses(destinations, true, faults);
  if (!faults.empty()) throw UsageError(faults);
  if (cfg.client.destination.reconnect_max < cfg.client.destination.reconnect_min)
    throw UsageError(fmt::format("{}{} must not be below {}", o.where({"--reconnect-max", "--reconnect-min"}),
                                 o.name("--reconnect-max"), o.name("--reconnect-min")));
  cfg.queue.max_message = cfg.ingest.max_message;
  cfg.queue.segment_bytes = segment_size_for(cfg.ingest.max_message);
  check_budget(raw, o, cfg.ingest.max_message, cfg.queue.segment_bytes);
  cfg.queue.max_queue_bytes = raw.max_queue_bytes;
  cfg.queue.max_cursors = 2 * cfg.client.max_destinations;  // an at-least-once destination has two
  cfg.ingest.rcvbuf = static_cast<int>(raw.rcvbuf);
  resolve_control(raw, o, cfg.control, cfg.control_options);
  resolve_state(o, cfg);
  resolve_data(raw, o, cfg);
  cfg.ingest.coalesce_seconds = raw.coalesce_us / 1e6;
}

// CLI11 says "--max-queue-bytes: must not be negative: -5"; the file's error names the key
// itself, so the flag goes.
std::string without_flag(std::string what, const std::string& flag) {
  if (what.starts_with(flag + ": ")) return what.substr(flag.size() + 2);
  if (const auto at = what.find(flag); at != std::string::npos) what.replace(at, flag.size(), "the value");
  return what;
}

// The file's settings, each through its flag's validators and into the value the flag fills,
// unless the command line gave that flag (it wins). Every bad value is reported, not just the first.
void apply_file(CLI::App& app, const ConfigFile& file, Origins& origins) {
  std::vector<std::string> faults;
  for (const auto& s : file.settings) {
    CLI::Option* opt = app.get_option(s.flag);
    if (opt->count() > 0) continue;  // given on the command line (TOML allows each key only once)
    try {
      opt->add_result(s.value);
      opt->run_callback();
      origins.from_file(s);
    } catch (const CLI::ParseError& e) {
      faults.push_back(fmt::format("{}: {}: {}", s.where.str(), s.key, without_flag(e.what(), s.flag)));
      opt->clear();
    }
  }
  if (!faults.empty()) throw UsageError(faults);
}

// The command line's listeners are LISTEN (udp@127.0.0.1:2008 when not given) and the
// --listen's, as without a file; when it names none, the file's list is used if it has one.
std::vector<Address> choose_listeners(const CLI::App& app, const RawOptions& raw, const ConfigFile* file) {
  if (file && file->listeners && app.count("LISTEN") == 0 && app.count("--listen") == 0)
    return file_addresses(*file->listeners);
  std::vector<Address> out{{raw.listen, ""}};
  for (const auto& l : raw.extra_listeners) out.push_back({l, ""});
  return out;
}

std::vector<Address> choose_destinations(const CLI::App& app, const RawOptions& raw, const ConfigFile* file) {
  if (file && file->destinations && app.count("DEST") == 0) return file_addresses(*file->destinations);
  std::vector<Address> out;
  for (const auto& d : raw.destinations) out.push_back({d, ""});
  return out;
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  const auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.string();
}

}  // namespace

Invocation read_configuration(int argc, const char* const* argv) {
  CLI::App app{"relayd: receives messages over UDP (or TCP) and relays every one to every TCP destination.", "relayd"};
  app.set_version_flag("--version", RELAY_VERSION);
  app.footer(
      "Examples:\n"
      "  relayd udp@127.0.0.1:2008 tcp@127.0.0.1:2009 tcp@127.0.0.1:2010\n"
      "  relayd udp@[::1]:2008 'tcp@10.0.0.5:2003?framing=line' --max-queue-bytes 1GiB\n"
      "  relayd --config /etc/relayd/relayd.toml --log-level debug\n"
      "Exit status: 0 after a clean shutdown, 1 when start-up fails, 2 on a usage error.");
  Invocation inv;
  Config& cfg = inv.config;
  RawOptions raw;
  add_options(app, raw, cfg);
  std::string config_path, check_path;
  auto* config_opt = app.add_option("--config", config_path,
                                    "TOML config file (docs/CONFIG.md); flags given here win over its keys, and "
                                    "listeners or destinations given here replace its lists");
  app.add_option("--check-config", check_path,
                 "Validate this config file (with the flags given here) as start-up would, print a summary and exit: "
                 "0 when valid, 2 otherwise; nothing binds")
      ->excludes(config_opt);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::ostringstream out, err;
    throw CommandLineExit{app.exit(e, out, err), out.str(), err.str()};
  } catch (const CLI::CallForVersion& e) {
    std::ostringstream out, err;
    throw CommandLineExit{app.exit(e, out, err), out.str(), err.str()};
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what(), true);
  }
  inv.check_only = !check_path.empty();
  const std::string path = inv.check_only ? check_path : config_path;
  std::optional<ConfigFile> file;
  try {
    Origins origins(app, !path.empty());
    if (!path.empty()) {
      file = read_config_file(path);
      apply_file(app, *file, origins);
      cfg.config_file = absolute_path(path);
    }
    raw.queue_bytes_given = app.count("--max-queue-bytes") > 0;
    const ConfigFile* f = file ? &*file : nullptr;
    resolve(raw, origins, choose_listeners(app, raw, f), choose_destinations(app, raw, f), cfg);
  } catch (const UsageError& e) {
    throw UsageError(e.faults(), path.empty());  // with a file, faults carry their place
  }
  return inv;
}

Invocation parse_invocation(int argc, const char* const* argv) {
  try {
    return read_configuration(argc, argv);
  } catch (const CommandLineExit& e) {
    std::fputs(e.out.c_str(), stdout);
    std::fputs(e.err.c_str(), stderr);
    throw;
  } catch (const UsageError& e) {
    for (const auto& fault : e.faults())
      std::fprintf(stderr, "relayd: %s%s\n", fault.c_str(), e.from_command_line() ? " (see relayd --help)" : "");
    throw CommandLineExit{2};
  }
}

Config parse_command_line(int argc, const char* const* argv) { return parse_invocation(argc, argv).config; }

}  // namespace relay
