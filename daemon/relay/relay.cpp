#include "relay.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "group_change.hpp"
#include "state_error.hpp"
#include "stats_report.hpp"

namespace relay {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The client thread's refusal in the API's terms: a status code, and the request field at fault.
ApiError api_error(const CommandError& e) {
  switch (e.failure()) {
    case CommandFailure::duplicate: return ApiError(ApiCode::already_exists, e.what(), "address");
    case CommandFailure::unknown_id: return ApiError(ApiCode::not_found, e.what(), "id");
    case CommandFailure::limit_reached: return ApiError(ApiCode::resource_exhausted, e.what());
    case CommandFailure::shutting_down: return ApiError(ApiCode::unavailable, e.what());
    case CommandFailure::timed_out: return ApiError(ApiCode::deadline_exceeded, e.what());
  }
  return ApiError(ApiCode::unavailable, e.what());
}

std::unique_ptr<StateStore> open_store(const Config& cfg) {
  return cfg.state_dir.empty() ? nullptr : std::make_unique<StateStore>(cfg.state_dir);
}

// The state file as start-up applies it: discarded first with --reset-state; entries the
// configuration now covers dropped (and the file rewritten without them).
RuntimeState initial_state(StateStore* store, const Config& cfg, const std::vector<std::string>& config) {
  if (!store) return {};
  if (cfg.reset_state) {
    if (store->reset())
      spdlog::warn("--reset-state: discarded {}; running the configuration's destinations only", store->file());
    else
      spdlog::info("--reset-state: there was no state file {} to discard", store->file());
  }
  RuntimeState loaded;
  try {
    loaded = store->load();
  } catch (const StateError& e) {
    throw StateError(std::string(e.what()) + " (relayd --reset-state discards it)");
  }
  RuntimeState state = normalized(config, loaded);
  if (state != loaded) {
    store->save(state);
    spdlog::info("state: dropped {} entries of {} that the configuration now settles",
                 loaded.added.size() + loaded.removed.size() - state.added.size() - state.removed.size(),
                 store->file());
  }
  spdlog::info("state {}: {} destinations added and {} removed through the API", store->file(), state.added.size(),
               state.removed.size());
  return state;
}

std::unique_ptr<Checkpoint> open_checkpoint(const QueueConfig& q) {
  return q.data_dir.empty() ? nullptr : std::make_unique<Checkpoint>(q.data_dir, q.fsync);
}

void log_recovery(const Queue& queue, const std::string& dir) {
  const RecoveryReport& r = queue.recovery();
  for (const auto& p : r.problems) spdlog::warn("data directory: {}", p);
  spdlog::info(
      "data directory {}: {} messages recovered (ids {} to {}) in {} segments from {} files; {} lost to damage, {} "
      "discarded",
      dir, r.messages, r.head, r.tail, r.segments, r.files, r.corrupt_messages, r.discarded_messages);
}

}  // namespace

Relay::Relay(const Config& cfg)
    : cfg_(cfg),
      config_addresses_(config_addresses(cfg)),
      store_(open_store(cfg)),
      state_(initial_state(store_.get(), cfg, config_addresses_)),
      startup_(effective_destinations(config_addresses_, state_)),
      started_(std::chrono::steady_clock::now()),
      queue_(cfg.queue),
      checkpoint_(open_checkpoint(cfg.queue)),
      recorded_(checkpoint_ ? checkpoint_->load() : std::nullopt),
      client_(queue_, cfg.client),
      background_(queue_, background_config(cfg), [this] { log_stats(); }),
      server_(queue_, cfg.listen, cfg.ingest, [this] { client_.wake(); }) {
  queue_.set_hooks([this] { background_.pressure(); }, [this] { client_.wake(); });
  for (const auto& l : server_.listeners()) own_listener(l.address);
  if (checkpoint_) log_recovery(queue_, cfg.queue.data_dir);
}

BackgroundConfig Relay::background_config(const Config& cfg) {
  BackgroundConfig b = cfg.background;
  if (!cfg.queue.data_dir.empty()) b.on_sync = [this] { sync_data(); };
  return b;
}

void Relay::sync_data() {
  // acquire: pairs with start()'s release; the start-up destinations' cursors are joined.
  if (!checkpoint_ || !resumed_.load(std::memory_order_acquire)) return;
  if (cfg_.queue.fsync == Fsync::interval) {
    if (const int e = queue_.sync_to_disk(); e != 0)
      spdlog::error("data directory {}: writing back segments failed: {} (counted in sync_errors)", cfg_.queue.data_dir,
                    std::strerror(e));
  }
  // Read before the positions: a destination's cursor is at or after the tail read earlier.
  std::uint64_t lowest = queue_.tail();
  std::vector<RecordedPosition> positions;
  for (const auto& d : client_.snapshot()) {
    positions.push_back({d.address, d.cursor});
    lowest = std::min(lowest, d.cursor);
  }
  if (checkpoint_->save(positions)) queue_.set_checkpoint(lowest);
  queue_.evict_cold();
}

std::optional<std::uint64_t> Relay::resume_position(const std::string& address, Origin origin) const {
  if (!checkpoint_) return std::nullopt;
  const RecoveryReport& r = queue_.recovery();
  if (!recorded_) return r.head;  // no usable positions file: every recovered message again
  const auto it = recorded_->find(peer_key(address));
  // Not recorded: new in the configuration since the last run (from now on), or added through
  // the API shortly before relayd stopped (every recovered message: duplicates rather than loss).
  if (it == recorded_->end()) return origin == Origin::api ? std::optional<std::uint64_t>(r.head) : std::nullopt;
  if (it->second < r.head)
    spdlog::warn(
        "destination {}: recorded at message {}, but the data directory holds messages from {} on: {} "
        "lost to damage or the disk budget",
        address, it->second, r.head, r.head - it->second);
  return it->second;
}

void Relay::own_listener(const std::string& bound) {
  if (bound.starts_with("tcp@") || bound.starts_with("tls@")) own_.add(parse_endpoint(bound, false));
}

// A unix control socket (or none) has no TCP address to protect.
void Relay::control_listening_on(int port) {
  if (cfg_.control.empty() || cfg_.control.starts_with("unix:") || port <= 0) return;
  try {
    Endpoint ep = parse_endpoint("tcp@" + cfg_.control, false);
    ep.set_port(static_cast<std::uint16_t>(port));
    own_.add(ep);
  } catch (const EndpointError& e) {
    spdlog::warn("control address {} not understood as HOST:PORT ({}); destinations are not checked against it",
                 cfg_.control, e.what());
  }
}

namespace {

// A framing asked for with AddDestination: a group's members take it; a broker has none.
void set_framing(Endpoint& ep, Framing framing) {
  if (ep.transport == Transport::kafka || ep.transport == Transport::nats)
    throw ApiError(ApiCode::invalid_argument,
                   "framing applies to tcp@, tls@ and group destinations: a broker stores each message whole",
                   "framing");
  ep.framing = framing;
  for (auto& m : ep.members) m.framing = framing;
}

}  // namespace

void Relay::refuse_own_address(const Endpoint& dest) const {
  for (const auto& member : dest.members) refuse_own_address(member);
  if (const auto own = own_.reached_by(dest))
    throw ApiError(ApiCode::invalid_argument,
                   "destination " + dest.str() + " is relayd's own address " + *own +
                       ": messages would come straight back (a loop), or reach the control port",
                   "address");
}

Relay::~Relay() { shutdown(); }

// The configuration's destinations (as parsed) and the state's added ones (parsed here: a bad
// one stops start-up naming the state file).
std::vector<Endpoint> Relay::startup_destinations() const {
  std::vector<Endpoint> out;
  for (const auto& d : startup_) {
    if (d.origin == Origin::config) {
      const auto it =
          std::ranges::find_if(cfg_.destinations, [&](const Endpoint& ep) { return ep.str() == d.address; });
      out.push_back(*it);
      continue;
    }
    try {
      Endpoint ep = parse_endpoint(d.address, true);
      if (ep.transport == Transport::udp) throw EndpointError(kDestinationKinds);
      out.push_back(std::move(ep));
    } catch (const EndpointError& e) {
      throw StateError(fmt::format("state file {}: added destination {}: {}", store_->file(), d.address, e.what()));
    }
  }
  return out;
}

void Relay::start() {
  // Control calls may already arrive (the control server starts first): a reload or an API
  // change waits until the start-up destinations are in, so none sees a half-started relay.
  const std::lock_guard lock(changes_mu_);
  const std::vector<Endpoint> dests = startup_destinations();
  for (const auto& ep : dests) refuse_own_address(ep);  // before anything runs
  client_.start();
  background_.start();
  server_.start();
  running_ = true;
  const Deadline deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool any_resumed = false;
  for (std::size_t i = 0; i < dests.size(); ++i) {
    const auto resume = resume_position(dests[i].str(), startup_[i].origin);
    const DestinationSnapshot added = client_.add(dests[i], StartAt::tail, deadline, resume);
    set_origin(added.id, startup_[i].origin);
    any_resumed = any_resumed || (resume && added.lag_messages > 0);
    if (resume)
      spdlog::info("destination {} (id {}) resumes at message {}: {} recovered messages to deliver", added.address,
                   added.id, added.cursor, added.lag_messages);
    if (startup_[i].origin == Origin::api)
      spdlog::info("destination {} (id {}) restored from the state file", added.address, added.id);
  }
  if (checkpoint_ && queue_.recovery().messages > 0 && !any_resumed)
    spdlog::info(
        "data directory {}: the {} recovered messages lie before every start-up destination's recorded "
        "position (delivered already, or queued for destinations no longer configured): they are freed",
        cfg_.queue.data_dir, queue_.recovery().messages);
  // release: pairs with sync_data()'s acquire.
  resumed_.store(true, std::memory_order_release);
  if (dests.empty())
    spdlog::info(
        "no destination yet: add one with `relayctl dest add tcp@HOST:PORT` or restart with relayd LISTEN "
        "tcp@HOST:PORT");
}

void Relay::shutdown() {
  if (!running_) return;
  running_ = false;
  server_.stop();  // nothing new arrives; the tail is final
  const auto timeout = std::chrono::milliseconds(static_cast<long long>(cfg_.drain_timeout * 1000));
  spdlog::info("shutting down: {} messages received; draining destinations for up to {:.1f} s", queue_.tail(),
               cfg_.drain_timeout);
  client_.drain_and_stop(timeout);
  background_.stop();
  queue_.hand_over_reclaimer();
  if (checkpoint_) {
    sync_data();  // the final positions: after SIGTERM a restart sends nothing twice
    spdlog::info("data directory {}: positions recorded in {}; {} messages kept for the next start",
                 cfg_.queue.data_dir, checkpoint_->file(), queue_.tail() - queue_.stats().head);
  }
  log_stats();
}

void Relay::log_stats() {
  auto now = std::make_unique<StatsSnapshot>(stats());
  for (const auto& line : format_stats(*now, last_report_.get())) spdlog::info("{}", line);
  last_report_ = std::move(now);
}

// A name's lookup holds the calling gRPC thread for as long as DNS takes: a few at once is
// plenty for an operator, and a flood of slow ones cannot pin every thread (or make hundreds).
Endpoint Relay::resolve_destination(const std::string& address) {
  constexpr int kMaxLookups = 8;
  // relaxed: a count of calls in progress; no other memory is published through it.
  if (lookups_.fetch_add(1, std::memory_order_relaxed) >= kMaxLookups) {
    lookups_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: as above
    throw ApiError(ApiCode::resource_exhausted,
                   "already " + std::to_string(kMaxLookups) + " address lookups in progress; try again", "address");
  }
  struct Release {
    std::atomic<int>& n;
    ~Release() { n.fetch_sub(1, std::memory_order_relaxed); }  // relaxed: as above
  } release{lookups_};
  try {
    return parse_endpoint(address, true);
  } catch (const EndpointError& e) {
    throw ApiError(ApiCode::invalid_argument, e.what(), "address");
  }
}

// The client thread first (it refuses duplicates and the limit: nothing to record), then the
// state file; if that cannot be written the destination is taken away again, so OK always means
// it is recorded.
DestinationSnapshot Relay::add_destination(const AddDestinationRequest& req, Deadline deadline) {
  Endpoint ep = resolve_destination(req.address);
  if (ep.transport == Transport::udp) throw ApiError(ApiCode::invalid_argument, kDestinationKinds, "address");
  if (req.framing) set_framing(ep, *req.framing);
  refuse_own_address(ep);
  if (req.replaces) return replace_destination(std::move(ep), *req.replaces, deadline);
  const std::string address = ep.str();
  const std::lock_guard lock(changes_mu_);
  DestinationSnapshot added;
  try {
    added = client_.add(std::move(ep), req.start, deadline);
  } catch (const CommandError& e) {
    if (e.failure() == CommandFailure::timed_out || e.failure() == CommandFailure::shutting_down)
      record_if_running(address);
    throw api_error(e);
  }
  try {
    commit(with_added(config_addresses_, state_, address));
  } catch (const ApiError&) {
    const Deadline undo = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    try {
      client_.remove(Removal{added.id, false, std::chrono::milliseconds(0)}, undo);
    } catch (const CommandError& e) {
      spdlog::error("destination {} (id {}) could not be taken back after its state was not saved: {}", address,
                    added.id, e.what());
    }
    throw;
  }
  set_origin(added.id, origin_of(address));
  return with_origin(std::move(added));
}

void Relay::record_if_running(const std::string& address) {
  const auto all = client_.snapshot();
  const auto it = std::ranges::find_if(all, [&](const auto& d) { return peer_key(d.address) == peer_key(address); });
  if (it == all.end()) return;
  try {
    commit(with_added(config_addresses_, state_, address));
    set_origin(it->id, origin_of(address));
  } catch (const ApiError& e) {
    spdlog::error("destination {} (id {}) was added after its call timed out and is not recorded: {}", address, it->id,
                  e.what());
  }
}

// `ep` in place of `old`, at its cursor (both AddDestination's `replaces` and a reload's changed
// group). The caller holds changes_mu_ and records the new destination's origin. Throws
// CommandError.
DestinationSnapshot Relay::swap_in(const Endpoint& ep, const DestinationSnapshot& old, Deadline deadline) {
  log_keys_moved(old.address, ep);
  DestinationSnapshot added = client_.replace(ep, old.id, deadline);
  const std::lock_guard o(origins_mu_);
  origins_.erase(old.id);
  return added;
}

// AddDestination with `replaces`: the client thread swaps them in one step, then the state file
// records the swap. A state file that cannot be written leaves the swap done (the old
// destination's position is gone) and says so.
DestinationSnapshot Relay::replace_destination(Endpoint ep, std::uint64_t old_id, Deadline deadline) {
  const std::string address = ep.str();
  const std::lock_guard lock(changes_mu_);
  const auto all = with_origins(client_.snapshot());
  const auto old = std::ranges::find_if(all, [&](const auto& d) { return d.id == old_id; });
  if (old == all.end())
    throw ApiError(ApiCode::not_found, "no destination with id " + std::to_string(old_id) + " to replace", "replaces");
  const std::string old_address = old->address;
  DestinationSnapshot added;
  try {
    added = swap_in(ep, *old, deadline);
  } catch (const CommandError& e) {
    throw api_error(e);
  }
  try {
    commit(with_added(config_addresses_, with_removed(config_addresses_, state_, old_address), address));
  } catch (const ApiError& e) {
    spdlog::error("destination {} replaced {} but the swap is not recorded: {}", address, old_address, e.what());
    throw;
  }
  set_origin(added.id, origin_of(address));
  return with_origin(std::move(added));
}

// The state file first: once the removal is recorded a crash cannot bring the destination back,
// whereas a removal done first and then not recorded would return at the next start.
DestinationSnapshot Relay::remove_destination(const RemoveDestinationRequest& req, Deadline deadline) {
  std::string address;
  Origin origin = Origin::config;
  {
    // Recorded under the lock; the removal itself (a drain may take seconds) is not, so it
    // never holds up other changes. While it runs the peer is still there: an add of it is
    // refused as a duplicate, so nothing can be recorded about it out of order.
    const std::lock_guard lock(changes_mu_);
    const auto all = with_origins(client_.snapshot());
    const auto target = std::ranges::find_if(all, [&](const auto& d) { return d.id == req.id; });
    if (target == all.end())
      throw ApiError(ApiCode::not_found, "no destination with id " + std::to_string(req.id), "id");
    address = target->address;
    origin = target->origin;
    commit(with_removed(config_addresses_, state_, address));
  }
  DestinationSnapshot last;
  try {
    last = client_.remove(Removal{req.id, req.drain, req.drain_timeout}, deadline);
  } catch (const CommandError& e) {
    restore_unless_removing(req.id, address, e);
    throw api_error(e);
  }
  {
    const std::lock_guard o(origins_mu_);
    origins_.erase(req.id);
  }
  last.origin = origin;
  return last;
}

// After a refused or abandoned removal the destination still runs as it was: its record goes
// back. A removal that completes in the background (timed out while draining) stays recorded.
void Relay::restore_unless_removing(std::uint64_t id, const std::string& address, const CommandError& e) {
  const std::lock_guard lock(changes_mu_);
  const auto now = client_.snapshot();
  const bool untouched =
      std::ranges::any_of(now, [&](const auto& d) { return d.id == id && d.state != DestinationState::draining; });
  // A timeout says "nothing changed" only when the client thread never took the removal.
  const bool abandoned = std::string_view(e.what()).find("nothing changed") != std::string_view::npos;
  if (!untouched || (e.failure() == CommandFailure::timed_out && !abandoned)) return;
  try {
    commit(with_added(config_addresses_, state_, address));
  } catch (const ApiError& undo) {
    spdlog::error("state: removal of {} recorded but it still runs: {}", address, undo.what());
  }
}

void Relay::commit(RuntimeState next) {
  if (store_) {
    try {
      store_->save(next);
    } catch (const StateError& e) {
      spdlog::error("{}", e.what());
      // A failure after the rename (the directory's fsync) would leave the new state in place.
      try {
        store_->save(state_);
      } catch (const StateError&) {  // nothing new to say: the first line says why
      }
      throw ApiError(ApiCode::internal, std::string(e.what()) + "; the change was not made");
    }
  }
  state_ = std::move(next);
}

Origin Relay::origin_of(const std::string& address) const {
  const std::string key = peer_key(address);
  for (const auto& d : effective_destinations(config_addresses_, state_))
    if (peer_key(d.address) == key) return d.origin;
  return Origin::api;
}

void Relay::set_origin(std::uint64_t id, Origin origin) {
  const std::lock_guard lock(origins_mu_);
  origins_[id] = origin;
}

DestinationSnapshot Relay::with_origin(DestinationSnapshot d) const {
  return std::move(with_origins({std::move(d)}).front());
}

std::vector<DestinationSnapshot> Relay::with_origins(std::vector<DestinationSnapshot> all) const {
  const std::lock_guard lock(origins_mu_);
  for (auto& d : all) {
    const auto it = origins_.find(d.id);
    d.origin = it == origins_.end() ? Origin::config : it->second;
  }
  return all;
}

std::vector<DestinationSnapshot> Relay::destinations() const { return with_origins(client_.snapshot()); }

std::vector<ListenerSnapshot> Relay::listener_snapshots() const {
  std::vector<ListenerSnapshot> out;
  for (const auto& l : server_.listeners())
    out.push_back(ListenerSnapshot{l.address, l.rcvbuf_granted_bytes, l.counters});
  return out;
}

StatsSnapshot Relay::stats() const {
  StatsSnapshot s;
  s.unix_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  s.uptime_seconds = seconds_since(started_);
  s.listeners = listener_snapshots();
  for (const auto& l : s.listeners) s.received += l.counters;
  s.queue = queue_.stats();
  s.destinations = with_origins(client_.snapshot());
  s.ingest_wait_seconds = server_.ingest_wait_seconds();
  return s;
}

RelayInfo Relay::info() const {
  RelayInfo i;
  i.version = RELAY_VERSION;
  i.uptime_seconds = seconds_since(started_);
  i.listeners = listener_snapshots();
  i.control_address = cfg_.control;
  i.max_queue_bytes = queue_.stats().max_queue_bytes;
  i.max_message_bytes = cfg_.ingest.max_message;
  i.max_destinations = static_cast<std::uint32_t>(cfg_.client.max_destinations);
  return i;
}

}  // namespace relay
