// service_notifier: tells systemd how relayd is doing (a Type=notify unit, packaging/relayd.service)
// through libsystemd's sd_notify:
//
//   READY=1     once every listener, the control service and metrics are bound and the threads run
//   STATUS=...  then every few seconds: listeners, destinations, rates (status_line.hpp)
//   WATCHDOG=1  every half of WATCHDOG_USEC (WatchdogSec=), sent from the background thread's
//               reclaim tick: a stuck background loop stops the pings and systemd restarts relayd
//   STOPPING=1  when a stop signal arrives, before the drain
//
// Without NOTIFY_SOCKET in the environment every call is a no-op, so relayd runs as before
// outside systemd. Threads: the constructor, ready() and stopping() on the main thread; tick()
// on the background thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "relay_api.hpp"
#include "snapshot.hpp"

namespace relay::service {

class ServiceNotifier {
 public:
  ServiceNotifier();  // reads NOTIFY_SOCKET and WATCHDOG_USEC (WATCHDOG_PID, if set, must be ours)

  // For BackgroundConfig::on_tick; the notifier must outlive the relay that calls it.
  std::function<void()> tick_hook() {
    return [this] { tick(); };
  }

  void ready(const RelayApi& relay);  // READY=1 and a first STATUS=; periodic STATUS= from now on
  void stopping();                    // STOPPING=1; no further STATUS= but "stopping: draining"

  // Background thread, every reclaim tick (20 ms): WATCHDOG=1 when half the interval has passed,
  // STATUS= when kStatusInterval has. Cheap when nothing is due: one clock read.
  void tick() noexcept;

  bool enabled() const noexcept { return enabled_; }
  std::chrono::microseconds watchdog_interval() const noexcept { return watchdog_; }

 private:
  void send(const std::string& state) noexcept;
  void update_status();

  static constexpr std::chrono::seconds kStatusInterval{5};
  static constexpr std::int64_t kMinRateWindowNs = 1'000'000'000;  // shorter: no STATUS= this tick

  const bool enabled_;                        // NOTIFY_SOCKET is set
  const std::chrono::microseconds watchdog_;  // WATCHDOG_USEC; 0: no watchdog
  // Background thread only: when the next ping and the next STATUS= are due.
  std::chrono::steady_clock::time_point next_ping_{};
  std::chrono::steady_clock::time_point next_status_{};
  // ready() and stopping() (main thread) against update_status() (background thread): once
  // stopping() has sent its STATUS= no rates line may overwrite it.
  std::mutex mutex_;
  const RelayApi* relay_ = nullptr;          // guarded by mutex_; set by ready(), cleared by stopping()
  std::unique_ptr<StatsSnapshot> previous_;  // guarded by mutex_: the next STATUS= line's rates start here
  // A failed sd_notify is logged once; later failures would repeat it every tick. relaxed: a
  // flag for that one log line, publishing nothing else.
  std::atomic<bool> send_failed_{false};
};

}  // namespace relay::service
