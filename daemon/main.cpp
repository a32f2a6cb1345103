// relayd's entry point: parse the command line and config file, start the relay (or only check
// the configuration: --check-config), wait for SIGINT/SIGTERM.
// SIGHUP is taken too: its default action would kill relayd without a drain.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "certs_command.hpp"
#include "command_line.hpp"
#include "control_security.hpp"
#include "control_server.hpp"
#include "metrics_server.hpp"
#include "relay.hpp"
#include "reloader.hpp"
#include "service_notifier.hpp"

namespace {

// Blocked before any thread starts, so every thread inherits the mask and only sigwait() below
// receives them: no async-signal handler touches relay state.
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

// SIGHUP reloads: the config file (reloader.hpp), then the control plane's certificates and
// token file. Returns the signal that asks relayd to stop.
int wait_for_stop_signal(const sigset_t& signals, relay::Reloader& reloader, relay::ControlSecurity* security) {
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig != SIGHUP) return sig;
    spdlog::info("received SIGHUP: reloading");
    reloader.reload();
    if (security) security->check_now();  // certificates and token file: logs what it finds
  }
}

// Descriptors: TCP ingest may hold --max-connections per listener and every destination one; a
// soft limit of 1,024 (the usual default) would run out first, and gRPC then stops accepting
// control connections. The hard limit is ours to take. Returns the limit in force.
rlim_t raise_open_file_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return RLIM_INFINITY;  // cannot tell: budget nothing
  if (lim.rlim_cur < lim.rlim_max) {
    const rlim_t before = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) == 0)
      spdlog::info("open file limit raised from {} to {}", before, lim.rlim_cur);
    else
      lim.rlim_cur = before;
  }
  return lim.rlim_cur;
}

// What relayd needs besides TCP ingest connections: stdio and the log, each thread's epoll and
// eventfd, gRPC's pollers and wake-ups, lookups in flight (kBaseReserve); a few dozen control
// connections at once (kControlReserve); a socket per destination and per listener.
constexpr rlim_t kBaseReserve = 64;
constexpr rlim_t kControlReserve = 64;
// Below this many connections per TCP listener relayd would be of little use: refuse to start.
constexpr rlim_t kMinConnectionsPerListener = 16;

// Ingest must never take the last descriptor (issue #9): if --max-connections on every TCP
// listener does not fit in the limit after the reserve, the cap is lowered to what fits, with
// one warning; if not even kMinConnectionsPerListener fit, start-up fails naming the numbers.
void fit_connections_to_open_file_limit(relay::Config& cfg, rlim_t limit) {
  if (limit == RLIM_INFINITY) return;
  const rlim_t tcp_listeners = static_cast<rlim_t>(std::count_if(
      cfg.listen.begin(), cfg.listen.end(), [](const auto& l) { return l.transport == relay::Transport::tcp; }));
  const rlim_t reserve = kBaseReserve + kControlReserve + cfg.client.max_destinations + cfg.listen.size();
  const std::string reserved =
      fmt::format("{} reserved: {} for relayd and control, {} for --max-destinations, {} for listeners", reserve,
                  kBaseReserve + kControlReserve, cfg.client.max_destinations, cfg.listen.size());
  const rlim_t left = limit > reserve ? limit - reserve : 0;
  if (tcp_listeners == 0) {
    if (left == 0)
      throw std::runtime_error(
          fmt::format("open file limit {} is below the {}; raise the hard limit (ulimit -Hn, "
                      "LimitNOFILE=) or lower --max-destinations",
                      limit, reserved));
    return;
  }
  const rlim_t fits = left / tcp_listeners;
  if (fits >= cfg.ingest.max_connections) return;
  if (fits < kMinConnectionsPerListener)
    throw std::runtime_error(fmt::format(
        "open file limit {} leaves {} descriptors for {} TCP listener(s) ({}), fewer than {} connections each; "
        "raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower --max-destinations",
        limit, left, tcp_listeners, reserved, kMinConnectionsPerListener));
  spdlog::warn(
      "open file limit {} fits {} TCP ingest connections per listener over {} listener(s) ({}): "
      "--max-connections lowered from {} to {}",
      limit, fits, tcp_listeners, reserved, cfg.ingest.max_connections, fits);
  cfg.ingest.max_connections = static_cast<unsigned>(fits);
}

int run(relay::Config cfg, int argc, char** argv) {
  fit_connections_to_open_file_limit(cfg, raise_open_file_limit());
  const sigset_t signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Ignored until here (main), so a HUP during start-up cannot kill relayd; back to the default
  // now that it is blocked, because sigwait() never sees a signal whose action is SIG_IGN.
  signal(SIGHUP, SIG_DFL);
  relay::service::ServiceNotifier systemd;  // sd_notify; no-op without NOTIFY_SOCKET
  cfg.background.on_tick = systemd.tick_hook();
  relay::Relay relay(cfg);  // binds the listeners: a taken port fails here, before any thread runs
  relay::Reloader reloader(relay, argc, argv, cfg.config_file);
  // Set before the control server starts, so no Reload call can race with it.
  relay.set_reload([&reloader] { return reloader.reload(); });  // the Reload RPC, as SIGHUP
  // Bound before the relay's threads start, so a taken control port also fails fast; started
  // after the signal mask is set, so gRPC's threads inherit it. Calls that arrive before
  // relay.start() simply wait in the client thread's mailbox.
  std::unique_ptr<relay::ControlSecurity> security;
  std::unique_ptr<relay::ControlServer> control;
  if (!cfg.control.empty()) {
    security = std::make_unique<relay::ControlSecurity>(cfg.control_options);  // reads and checks every file
    control = std::make_unique<relay::ControlServer>(relay, cfg.control, security.get());
    control->start();
    relay.control_listening_on(control->port());  // no destination may point at it
  }
  std::unique_ptr<relay::metrics::MetricsServer> metrics;
  if (!cfg.metrics.empty()) {  // its HTTP threads start here, with the signal mask set
    metrics = std::make_unique<relay::metrics::MetricsServer>(relay, cfg.metrics, relay.info().version);
    spdlog::info("metrics on http://{}/metrics", metrics->address());
  }
  relay.start();
  spdlog::info("relayd ready");
  systemd.ready(relay);
  const int sig = wait_for_stop_signal(signals, reloader, security.get());
  systemd.stopping();
  spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  relay.release_control_callers();
  if (control) control->shutdown();
  relay.shutdown();
  return 0;
}

// --check-config: the file and the flags have been parsed and every address resolved, every
// tls@ destination's files read; the control plane's files are read and checked here as start-up
// would (key matches certificate, token file parses). Nothing binds. Exit 0 or 2.
int check_config(const relay::Config& cfg) {
  if (!cfg.control.empty()) {
    spdlog::set_level(spdlog::level::warn);  // only what is wrong: an expiring certificate, say
    try {
      relay::ControlSecurity security(cfg.control_options);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "relayd: %s: control: %s\n", cfg.config_file.c_str(), e.what());
      return 2;
    }
  }
  const auto plural = [](std::size_t n, const char* word) {
    return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
  };
  std::printf("relayd: %s is valid: %s, %s\n", cfg.config_file.c_str(), plural(cfg.listen.size(), "listener").c_str(),
              plural(cfg.destinations.size(), "destination").c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A destination that resets must never kill the relay; writes also pass MSG_NOSIGNAL.
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);  // see run(): a HUP before the mask is set must not kill relayd
  // `relayd certs ...` is a tool that makes keys, not the daemon.
  if (argc > 1 && std::string_view(argv[1]) == "certs") return relay::certs::run_certs_command(argc - 1, argv + 1);
  relay::Invocation inv;
  try {
    inv = relay::parse_invocation(argc, argv);
  } catch (const relay::CommandLineExit& e) {
    return e.code;
  }
  relay::Config& cfg = inv.config;
  // Logs go to stderr: stdout stays free for whatever wraps relayd.
  spdlog::set_default_logger(spdlog::stderr_color_mt("relayd"));
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (inv.check_only) return check_config(cfg);
  try {
    return run(cfg, argc, argv);
  } catch (const std::exception& e) {
    spdlog::error("relayd cannot run: {}", e.what());
    return 1;
  }
}
