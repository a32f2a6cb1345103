// relay: one running relayd — the queue and its three threads — and the RelayApi the control
// plane calls. Construction binds every listener (so a bad address fails before anything runs);
// start() starts the threads; shutdown() stops receiving, drains, and stops.
//
//   server thread ──append──▶ queue ──cursors──▶ client thread ──▶ destinations
//                     │ wake (ev_async)   ▲ reclaim / floor
//                     └──────────────▶ background thread
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "background_thread.hpp"
#include "checkpoint.hpp"
#include "client_thread.hpp"
#include "own_addresses.hpp"
#include "queue.hpp"
#include "relay_api.hpp"
#include "relay_config.hpp"
#include "reload_plan.hpp"
#include "runtime_state.hpp"
#include "server_thread.hpp"
#include "state_store.hpp"

namespace relay {

class Relay final : public RelayApi {
 public:
  explicit Relay(const Config& cfg);
  ~Relay() override;

  // The control service listens on TCP `port` (of the control address): no destination may
  // point there. Call before start().
  void control_listening_on(int port);
  // Starts the threads and adds the command line's destinations. Throws ApiError when one is
  // relayd's own listener or control port.
  void start();
  // Control calls still waiting (e.g. a draining removal) return UNAVAILABLE at once, so the
  // control server can stop without waiting for them.
  void release_control_callers() noexcept { client_.release_callers(); }
  // Stops receiving, gives destinations up to the drain timeout, stops every thread.
  void shutdown();
  void log_stats();

  // Applies a re-read configuration (reload_plan.hpp, docs/CONFIG.md "Reload"): under the
  // current runtime state, the config's destinations that went are removed (drained, up to
  // --drain-timeout each), new ones added at the tail, changed ones replaced; the log level is
  // set; listeners that went are retired, new ones bound (reload_plan.hpp). API changes wait
  // meanwhile. A step that fails is reported and the others still run.
  ReloadOutcome reload(const Config& next);
  // Who reads the config file again for the Reload RPC (main's Reloader); set before start().
  void set_reload(std::function<ReloadReport()> reload) { reload_ = std::move(reload); }
  ReloadReport reload_configuration() override;

  DestinationSnapshot add_destination(const AddDestinationRequest& req, Deadline deadline) override;
  DestinationSnapshot remove_destination(const RemoveDestinationRequest& req, Deadline deadline) override;
  std::vector<DestinationSnapshot> destinations() const override;
  StatsSnapshot stats() const override;
  RelayInfo info() const override;

 private:
  DestinationSnapshot replace_destination(Endpoint ep, std::uint64_t old_id, Deadline deadline);
  DestinationSnapshot swap_in(const Endpoint& ep, const DestinationSnapshot& old, Deadline deadline);
  std::vector<ListenerSnapshot> listener_snapshots() const;
  void refuse_own_address(const Endpoint& dest) const;
  Endpoint resolve_destination(const std::string& address);
  std::vector<Endpoint> startup_destinations() const;
  // Makes `next` the state: in the state file when there is one, then in memory. Throws ApiError
  // (internal) when the file cannot be written; the state is then unchanged.
  void commit(RuntimeState next);
  // Where `address` comes from under the current state.
  Origin origin_of(const std::string& address) const;
  void set_origin(std::uint64_t id, Origin origin);
  DestinationSnapshot with_origin(DestinationSnapshot d) const;
  std::vector<DestinationSnapshot> with_origins(std::vector<DestinationSnapshot> all) const;
  void reload_remove(const std::string& address, ReloadOutcome& out);
  void reload_add(const Config& next, const std::string& address, ReloadOutcome& out);
  void reload_replace(const Config& next, const ReloadPlan::Replacement& r, ReloadOutcome& out);
  void reload_listeners(const Config& next, ReloadOutcome& out);
  void reload_timing(const Config& next, ReloadOutcome& out);
  // A running destination that a TCP listener at `listener` would receive from (a loop).
  std::optional<std::string> destination_reaching(const Endpoint& listener) const;
  void own_listener(const std::string& bound);
  // After a timed-out add: the client thread may still have applied it.
  void record_if_running(const std::string& address);
  // With a data dir (background thread; main thread at shutdown): segments written back, every
  // destination's position recorded, and the reclaimer told what it may free.
  void sync_data();
  BackgroundConfig background_config(const Config& cfg);
  // Where a start-up destination resumes (nullopt: at the tail): its recorded position, or the
  // oldest recovered message when it came from the API but was not recorded yet.
  std::optional<std::uint64_t> resume_position(const std::string& address, Origin origin) const;
  void restore_unless_removing(std::uint64_t id, const std::string& address, const CommandError& e);

  Config cfg_;
  std::function<ReloadReport()> reload_;       // empty: the Reload RPC is refused
  std::vector<std::string> config_addresses_;  // cfg_.destinations, canonical
  std::unique_ptr<StateStore> store_;          // null without --state-dir
  // One API change at a time, from the client thread's answer to the state file, so the file
  // records changes in the order they were made. Not held while a removal drains.
  std::mutex changes_mu_;
  RuntimeState state_;  // guarded by changes_mu_ (start-up: the main thread, before any call)
  // Where each running destination comes from, by id: read by every listing and stats call, so
  // under its own short lock rather than changes_mu_. An id not there yet is config's.
  mutable std::mutex origins_mu_;
  std::map<std::uint64_t, Origin> origins_;    // guarded by origins_mu_
  std::vector<EffectiveDestination> startup_;  // what start() adds, read with the state at construction
  OwnAddresses own_;
  std::atomic<int> lookups_{0};  // address lookups in progress (control threads)
  std::chrono::steady_clock::time_point started_;
  Queue queue_;
  std::unique_ptr<Checkpoint> checkpoint_;  // null without --data-dir
  // What the positions file said at start-up, by peer; nullopt when there was none usable.
  std::optional<std::map<std::string, std::uint64_t>> recorded_;
  // Start-up destinations are in: from then on positions are recorded and segments freed.
  std::atomic<bool> resumed_{false};
  ClientThread client_;
  BackgroundThread background_;
  ServerThread server_;
  bool running_ = false;
  // The previous stats log line's snapshot, for its rates. Touched by log_stats() only: on the
  // background thread while it runs, then once more by shutdown() on the main thread after the
  // background thread has been joined, so never by two threads at once.
  std::unique_ptr<StatsSnapshot> last_report_;
};

}  // namespace relay
