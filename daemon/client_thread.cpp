#include "client_thread.hpp"

#include <algorithm>
#include <future>

#include <spdlog/spdlog.h>

#include "thread_name.hpp"

namespace relay {

namespace {

constexpr double kTickSeconds = 0.1;  // gauges refresh and drain checks
constexpr double kFinishMessageSeconds = 1.0;  // an immediate removal may finish a half-sent message

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

struct ClientThread::Command {
  enum class Kind { add, remove, shutdown } kind = Kind::add;
  std::shared_ptr<DestinationShared> dest;  // add
  StartAt start = StartAt::tail;            // add
  RemoveDestinationRequest removal;         // remove
  std::chrono::milliseconds drain_timeout{0};  // shutdown
  // 0 pending, 1 taken by the client thread, 2 abandoned by a caller whose deadline passed.
  // Whoever moves it from 0 decides whether the command happens.
  std::atomic<int> claim{0};
  std::promise<DestinationSnapshot> done;
};

struct ClientThread::Draining {
  std::uint64_t id = 0;
  std::uint64_t target = 0;  // drained once the cursor reaches it
  ev_tstamp deadline = 0;
  std::shared_ptr<Command> cmd;  // null for shutdown drains
  bool immediate = false;        // an immediate removal finishing a half-sent message
};

ClientThread::ClientThread(Queue& queue, ClientConfig cfg)
    : queue_(queue), cfg_(cfg), loop_(ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK)) {
  if (loop_ == nullptr) throw std::runtime_error("cannot create the client thread's event loop");
  ev_async_init(&wake_, &ClientThread::on_wake);
  wake_.data = this;
  ev_async_start(loop_, &wake_);
  ev_timer_init(&tick_, &ClientThread::on_tick, kTickSeconds, kTickSeconds);
  tick_.data = this;
  ev_timer_start(loop_, &tick_);
}

ClientThread::~ClientThread() {
  if (thread_.joinable()) drain_and_stop(std::chrono::milliseconds(0));
  destinations_.clear();
  ev_loop_destroy(loop_);
}

void ClientThread::start() {
  thread_ = std::thread([this] {
    name_this_thread("relayd-client");
    ev_run(loop_, 0);
  });
}

void ClientThread::wake() noexcept { ev_async_send(loop_, &wake_); }

void ClientThread::on_wake(struct ev_loop*, ev_async* w, int) {
  auto* self = static_cast<ClientThread*>(w->data);
  self->run_commands();
  for (auto& d : self->destinations_) d->on_data();
  if (!self->draining_.empty()) self->check_drains();
}

void ClientThread::on_tick(struct ev_loop*, ev_timer* w, int) {
  auto* self = static_cast<ClientThread*>(w->data);
  for (auto& d : self->destinations_) {
    d->on_data();  // applies a raised floor even for destinations with nothing to write
    d->refresh_gauges();
  }
  self->check_drains();
}

// ---------------------------------------------------------------- control calls (any thread)

DestinationSnapshot ClientThread::add(Endpoint endpoint, StartAt start, Deadline deadline) {
  auto cmd = std::make_shared<Command>();
  cmd->kind = Command::Kind::add;
  // relaxed: ids only need to be unique.
  cmd->dest = std::make_shared<DestinationShared>(next_id_.fetch_add(1, std::memory_order_relaxed), std::move(endpoint));
  cmd->start = start;
  return submit(std::move(cmd), deadline);
}

DestinationSnapshot ClientThread::remove(const RemoveDestinationRequest& req, Deadline deadline) {
  auto cmd = std::make_shared<Command>();
  cmd->kind = Command::Kind::remove;
  cmd->removal = req;
  return submit(std::move(cmd), deadline);
}

DestinationSnapshot ClientThread::submit(std::shared_ptr<Command> cmd, Deadline deadline) {
  auto result = cmd->done.get_future();
  mailbox_.push(cmd);
  wake();
  // Sliced wait, so release_callers() can end it early when relayd shuts down.
  constexpr auto kSlice = std::chrono::milliseconds(50);
  // acquire: pairs with release_callers(); nothing else is published through it.
  while (!closing_.load(std::memory_order_acquire)) {
    const auto until = std::min(deadline, std::chrono::steady_clock::now() + kSlice);
    if (result.wait_until(until) == std::future_status::ready) return result.get();
    if (until == deadline) break;
  }
  const bool closing = closing_.load(std::memory_order_acquire);  // acquire: as above
  const ApiCode code = closing ? ApiCode::unavailable : ApiCode::deadline_exceeded;
  const std::string why = closing ? "relayd is shutting down" : "the deadline passed";
  int pending = 0;
  // acq_rel: either we abandon it before the client thread claims it, or we see its claim.
  if (cmd->claim.compare_exchange_strong(pending, 2, std::memory_order_acq_rel))
    throw ApiError(code, why + " before the client thread applied the change; nothing changed");
  throw ApiError(code, why + " while the change was being applied; it completes in the background");
}

void ClientThread::release_callers() noexcept {
  // release: waiters that see it stop waiting; no other data rides on it.
  closing_.store(true, std::memory_order_release);
}

std::vector<DestinationSnapshot> ClientThread::snapshot() const {
  const std::uint64_t tail = queue_.tail();
  const std::int64_t now = steady_ns();
  std::lock_guard lock(registry_mutex_);
  std::vector<DestinationSnapshot> out;
  out.reserve(registry_.size());
  for (const auto& d : registry_) out.push_back(snapshot_of(*d, tail, now));
  return out;
}

// ---------------------------------------------------------------- client thread

void ClientThread::run_commands() {
  mailbox_.take_all([this](std::shared_ptr<Command> cmd) {
    int pending = 0;
    // acq_rel: see submit(); a command its caller abandoned is dropped unapplied.
    if (!cmd->claim.compare_exchange_strong(pending, 1, std::memory_order_acq_rel)) return;
    try {
      apply(cmd);
    } catch (...) {
      cmd->done.set_exception(std::current_exception());
    }
  });
}

void ClientThread::apply(const std::shared_ptr<Command>& cmd) {
  switch (cmd->kind) {
    case Command::Kind::add: return apply_add(*cmd);
    case Command::Kind::remove: return apply_remove(cmd);
    case Command::Kind::shutdown: return apply_shutdown(*cmd);
  }
}

namespace {

// Destinations are unique by host and port: a second connection to the same peer, even with
// another framing, is almost certainly a mistake.
std::string peer_of(const Endpoint& ep) {
  Endpoint plain = ep;
  plain.framing = Framing::lp32le;
  return plain.str();
}

}  // namespace

void ClientThread::apply_add(Command& cmd) {
  const std::string address = cmd.dest->endpoint.str();
  for (const auto& d : destinations_) {
    if (peer_of(d->shared()->endpoint) == peer_of(cmd.dest->endpoint))
      throw ApiError(ApiCode::already_exists,
                     "destination " + address + " already exists (id " + std::to_string(d->shared()->id) + ")", "address");
  }
  if (destinations_.size() >= cfg_.max_destinations)
    throw ApiError(ApiCode::resource_exhausted,
                   "already " + std::to_string(cfg_.max_destinations) + " destinations (--max-destinations)");
  if (shutting_down_) throw ApiError(ApiCode::unavailable, "relayd is shutting down");
  auto dest = std::make_unique<Destination>(loop_, queue_, cmd.dest, cmd.start, cfg_.destination);
  dest->start();
  destinations_.push_back(std::move(dest));
  publish_registry();
  spdlog::info("destination {} added (id {}, framing {}, cursor at message {})", address, cmd.dest->id,
               to_string(cmd.dest->endpoint.framing), cmd.dest->cursor.get());
  cmd.done.set_value(snapshot_of(*cmd.dest, queue_.tail(), steady_ns()));
}

void ClientThread::apply_remove(const std::shared_ptr<Command>& cmd) {
  const std::uint64_t id = cmd->removal.id;
  Destination* dest = find(id);
  if (dest == nullptr) throw ApiError(ApiCode::not_found, "no destination with id " + std::to_string(id), "id");
  for (const auto& d : draining_) {
    if (d.id == id && d.cmd) throw ApiError(ApiCode::not_found, "destination " + std::to_string(id) + " is already being removed", "id");
  }
  Draining entry{id, queue_.tail(), ev_now(loop_), cmd};
  if (!cmd->removal.drain) {
    // At once: only this destination; other drains in progress keep their own deadlines.
    std::erase_if(draining_, [&](const Draining& d) { return d.id == id; });
    if (!dest->mid_message()) return finish_removal(entry, dest, Finish::immediate);
    // Half a frame is on the wire: finish that one message (for at most a second) so the peer
    // never sees a cut frame, then remove.
    entry.target = dest->message_in_progress_end();
    entry.deadline += kFinishMessageSeconds;
    entry.immediate = true;
    draining_.push_back(entry);
    return check_drains();
  }
  entry.deadline += static_cast<double>(cmd->removal.drain_timeout.count()) / 1000.0;
  draining_.push_back(entry);
  dest->begin_drain();
  dest->on_data();
  check_drains();
}

// Shutdown: every destination drains to the final tail, bounded by the timeout; then the loop
// ends. A destination already draining for a removal keeps its entry (and its caller), with the
// earlier of the two deadlines.
void ClientThread::apply_shutdown(Command& cmd) {
  shutting_down_ = true;
  const std::uint64_t tail = queue_.tail();
  const ev_tstamp deadline = ev_now(loop_) + static_cast<double>(cmd.drain_timeout.count()) / 1000.0;
  for (auto& d : destinations_) {
    d->begin_drain();
    const auto it = std::find_if(draining_.begin(), draining_.end(), [&](const Draining& e) { return e.id == d->shared()->id; });
    if (it != draining_.end()) {
      it->deadline = std::min(it->deadline, deadline);
      it->target = std::max(it->target, tail);
    } else {
      draining_.push_back(Draining{d->shared()->id, tail, deadline, nullptr});
    }
  }
  cmd.done.set_value({});
  check_drains();
}

Destination* ClientThread::find(std::uint64_t id) const {
  for (const auto& d : destinations_) {
    if (d->shared()->id == id) return d.get();
  }
  return nullptr;
}

// Finishes every drain that reached its target or its deadline.
void ClientThread::check_drains() {
  const ev_tstamp now = ev_now(loop_);
  for (std::size_t i = 0; i < draining_.size();) {
    Draining& d = draining_[i];
    Destination* dest = find(d.id);
    const bool done = dest == nullptr || dest->reached(d.target);
    if (!done && now < d.deadline) {
      ++i;
      continue;
    }
    finish_removal(d, dest, d.immediate ? Finish::immediate : done ? Finish::drained : Finish::timed_out);
    draining_.erase(draining_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  if (shutting_down_ && draining_.empty()) ev_break(loop_, EVBREAK_ALL);
}

void ClientThread::finish_removal(const Draining& d, Destination* dest, Finish how) {
  if (dest == nullptr) return;
  const std::uint64_t left = dest->pending();
  dest->shared()->counters.dropped_removed.add(left);
  dest->refresh_gauges();
  const DestinationSnapshot last = snapshot_of(*dest->shared(), queue_.tail(), steady_ns());
  if (left > 0 || how == Finish::timed_out)
    spdlog::warn("destination {} removed with {} messages unsent{}", last.address, left,
                 how == Finish::timed_out ? " (drain timed out)" : how == Finish::immediate ? " (removed at once)" : "");
  else
    spdlog::info("destination {} removed, everything queued for it was written", last.address);
  if (shutting_down_) {
    keep_for_report_.push_back(dest->shared());
  }
  std::erase_if(destinations_, [&](const auto& p) { return p.get() == dest; });
  publish_registry();
  if (d.cmd) d.cmd->done.set_value(last);
}

void ClientThread::publish_registry() {
  std::vector<std::shared_ptr<DestinationShared>> now;
  now.reserve(destinations_.size() + keep_for_report_.size());
  for (const auto& d : destinations_) now.push_back(d->shared());
  for (const auto& d : keep_for_report_) now.push_back(d);
  std::lock_guard lock(registry_mutex_);  // control path: only on add/remove
  registry_.swap(now);
}

void ClientThread::drain_and_stop(std::chrono::milliseconds timeout) {
  if (!thread_.joinable()) return;
  auto cmd = std::make_shared<Command>();
  cmd->kind = Command::Kind::shutdown;
  cmd->drain_timeout = timeout;
  mailbox_.push(cmd);
  wake();
  thread_.join();
}

}  // namespace relay
