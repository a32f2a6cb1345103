#include "service_notifier.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "status_line.hpp"

namespace relay::service {

namespace {

// sd_watchdog_enabled: > 0 when WATCHDOG_USEC is set and WATCHDOG_PID is unset or our pid.
std::chrono::microseconds watchdog_usec() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return std::chrono::microseconds{0};
  return std::chrono::microseconds{usec};
}

}  // namespace

ServiceNotifier::ServiceNotifier()
    : enabled_(std::getenv("NOTIFY_SOCKET") != nullptr), watchdog_(enabled_ ? watchdog_usec() : decltype(watchdog_){}) {
  if (!enabled_) return;
  if (watchdog_.count() > 0)
    spdlog::info("systemd: notifying {}, watchdog ping every {} ms", std::getenv("NOTIFY_SOCKET"),
                 watchdog_.count() / 2000);
  else
    spdlog::info("systemd: notifying {}, no watchdog", std::getenv("NOTIFY_SOCKET"));
}

void ServiceNotifier::send(const std::string& state) noexcept {
  if (!enabled_) return;
  const int rc = sd_notify(0, state.c_str());
  // relaxed: see send_failed_.
  if (rc < 0 && !send_failed_.exchange(true, std::memory_order_relaxed))
    spdlog::warn("systemd: cannot notify {} ({}); systemd may think relayd hung", std::getenv("NOTIFY_SOCKET"),
                 std::strerror(-rc));
}

void ServiceNotifier::ready(const RelayApi& relay) {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  relay_ = &relay;
  previous_ = std::make_unique<StatsSnapshot>(relay.stats());
  send("READY=1\nSTATUS=" + status_line(*previous_, nullptr));
}

void ServiceNotifier::stopping() {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  relay_ = nullptr;
  send("STOPPING=1\nSTATUS=stopping: draining destinations");
}

void ServiceNotifier::tick() noexcept {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (watchdog_.count() > 0 && now >= next_ping_) {
    send("WATCHDOG=1");
    next_ping_ = now + watchdog_ / 2;
  }
  if (now < next_status_) return;
  next_status_ = now + kStatusInterval;
  try {
    update_status();
  } catch (const std::exception& e) {  // a snapshot's allocation: the next tick tries again
    spdlog::warn("systemd: no status update: {}", e.what());
  }
}

// The snapshot is taken under the lock so that stopping() cannot be overtaken by a rates line.
void ServiceNotifier::update_status() {
  std::lock_guard lock(mutex_);
  if (relay_ == nullptr) return;  // before ready() or after stopping()
  auto now = std::make_unique<StatsSnapshot>(relay_->stats());
  // The first tick after ready() comes within a reclaim interval of it: rates over a moment say
  // nothing, so the first line with rates waits for the next status tick.
  if (previous_ && now->unix_ns - previous_->unix_ns < kMinRateWindowNs) return;
  send("STATUS=" + status_line(*now, previous_.get()));
  previous_ = std::move(now);
}

}  // namespace relay::service
