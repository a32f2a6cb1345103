// relayd's entry point: parse the command line, start the relay, wait for SIGINT/SIGTERM.
// SIGHUP is taken too: its default action would kill relayd without a drain.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <memory>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "command_line.hpp"
#include "control_server.hpp"
#include "relay.hpp"

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

// Operators send SIGHUP to reload; until reload exists relayd must not die of it, so it says
// so and keeps relaying. Returns the signal that asks relayd to stop.
int wait_for_stop_signal(const sigset_t& signals) {
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig != SIGHUP) return sig;
    spdlog::warn("received SIGHUP: reload is not supported yet, carrying on");
  }
}

// Descriptors: TCP ingest may hold --max-connections per listener and every destination one; a
// soft limit of 1,024 (the usual default) would run out first, and then gRPC stops accepting
// control connections for good. The hard limit is ours to take; say when even it is tight.
void raise_open_file_limit(const relay::Config& cfg) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    const rlim_t before = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) == 0)
      spdlog::info("open file limit raised from {} to {}", before, lim.rlim_cur);
    else
      lim.rlim_cur = before;
  }
  constexpr rlim_t kReserve = 256;  // control connections, logs, sockets of the moment
  const rlim_t wanted =
      static_cast<rlim_t>(cfg.ingest.max_connections) * cfg.listen.size() + cfg.client.max_destinations + kReserve;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < wanted)
    spdlog::warn(
        "open file limit {} is below the {} that --max-connections {} and --max-destinations {} may need; "
        "lower them or raise the hard limit (ulimit -Hn, LimitNOFILE=)",
        lim.rlim_cur, wanted, cfg.ingest.max_connections, cfg.client.max_destinations);
}

int run(const relay::Config& cfg) {
  raise_open_file_limit(cfg);
  const sigset_t signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  relay::Relay relay(cfg);  // binds the listeners: a taken port fails here, before any thread runs
  // Bound before the relay's threads start, so a taken control port also fails fast; started
  // after the signal mask is set, so gRPC's threads inherit it. Calls that arrive before
  // relay.start() simply wait in the client thread's mailbox.
  std::unique_ptr<relay::ControlServer> control;
  if (!cfg.control.empty()) {
    control = std::make_unique<relay::ControlServer>(relay, cfg.control);
    control->start();
    relay.control_listening_on(control->port());  // no destination may point at it
  }
  relay.start();
  spdlog::info("relayd ready");
  const int sig = wait_for_stop_signal(signals);
  spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  relay.release_control_callers();
  if (control) control->shutdown();
  relay.shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A destination that resets must never kill the relay; writes also pass MSG_NOSIGNAL.
  signal(SIGPIPE, SIG_IGN);
  relay::Config cfg;
  try {
    cfg = relay::parse_command_line(argc, argv);
  } catch (const relay::CommandLineExit& e) {
    return e.code;
  }
  // Logs go to stderr: stdout stays free for whatever wraps relayd.
  spdlog::set_default_logger(spdlog::stderr_color_mt("relayd"));
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  try {
    return run(cfg);
  } catch (const std::exception& e) {
    spdlog::error("relayd cannot run: {}", e.what());
    return 1;
  }
}
