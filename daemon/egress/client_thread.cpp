#include "client_thread.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "thread_name.hpp"

namespace relay {

namespace {

constexpr double kTickSeconds = 0.1;           // gauges refresh and drain checks
constexpr double kFinishMessageSeconds = 1.0;  // an immediate removal may finish a half-sent message

double seconds(std::chrono::milliseconds ms) { return static_cast<double>(ms.count()) / 1000.0; }

}  // namespace

ClientThread::ClientThread(Queue& queue, ClientConfig cfg)
    : queue_(queue), cfg_(cfg), loop_(ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK)), commands_([this] { wake(); }) {
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
  self->commands_.take_all([self](const std::shared_ptr<Command>& cmd) { self->apply(cmd); });
  for (auto& d : self->destinations_) d->on_data();
  if (!self->drains_.empty()) self->check_drains();
}

void ClientThread::on_tick(struct ev_loop*, ev_timer* w, int) {
  auto* self = static_cast<ClientThread*>(w->data);
  for (auto& d : self->destinations_) {
    d->on_data();  // applies a raised floor even for destinations with nothing to write
    d->poll_acks();
    d->refresh_gauges();
  }
  self->check_drains();
}

// ---------------------------------------------------------------- any thread

// Here, on the caller's thread: a bad certificate file or publisher option is the caller's
// INVALID_ARGUMENT, and a library's set-up does not hold up the client thread.
std::shared_ptr<Command> ClientThread::add_command(Endpoint endpoint) {
  auto cmd = std::make_shared<Command>();
  cmd->kind = Command::Kind::add;
  std::shared_ptr<const TlsContext> tls = endpoint.tls ? TlsContext::build(endpoint) : nullptr;
  cmd->publisher = make_publisher(endpoint);
  // relaxed: ids only need to be unique.
  cmd->dest = std::make_shared<DestinationShared>(next_id_.fetch_add(1, std::memory_order_relaxed), std::move(endpoint),
                                                  std::move(tls));
  return cmd;
}

DestinationSnapshot ClientThread::add(Endpoint endpoint, StartAt start, Deadline deadline,
                                      std::optional<std::uint64_t> resume) {
  auto cmd = add_command(std::move(endpoint));
  cmd->start = start;
  cmd->resume = resume;
  return commands_.call(std::move(cmd), deadline);
}

DestinationSnapshot ClientThread::replace(Endpoint endpoint, std::uint64_t old_id, Deadline deadline) {
  auto cmd = add_command(std::move(endpoint));
  cmd->replaces = old_id;
  return commands_.call(std::move(cmd), deadline);
}

DestinationSnapshot ClientThread::remove(const Removal& removal, Deadline deadline) {
  auto cmd = std::make_shared<Command>();
  cmd->kind = Command::Kind::remove;
  cmd->removal = removal;
  return commands_.call(std::move(cmd), deadline);
}

void ClientThread::set_destination_timing(DestinationConfig timing) {
  const auto seconds_ok = [](double s) { return std::isfinite(s) && s > 0; };
  if (!seconds_ok(timing.reconnect_min) || !seconds_ok(timing.reconnect_max) || !seconds_ok(timing.connect_timeout))
    throw std::invalid_argument(fmt::format(
        "destination timing: reconnect_min {}, reconnect_max {}, connect_timeout {}: each must be a positive number",
        timing.reconnect_min, timing.reconnect_max, timing.connect_timeout));
  if (timing.reconnect_max < timing.reconnect_min)
    throw std::invalid_argument(fmt::format("destination timing: reconnect_max {} is below reconnect_min {}",
                                            timing.reconnect_max, timing.reconnect_min));
  if (timing.keepalive_idle < 1 || timing.keepalive_interval < 1 || timing.keepalive_count < 1)
    throw std::invalid_argument("destination timing: keepalive idle, interval and count must each be at least 1");
  auto cmd = std::make_shared<Command>();
  cmd->kind = Command::Kind::timing;
  cmd->timing = timing;
  commands_.post(std::move(cmd));
}

std::vector<DestinationSnapshot> ClientThread::snapshot() const {
  return registry_.snapshot(queue_.tail(), steady_ns());
}

void ClientThread::drain_and_stop(std::chrono::milliseconds timeout) {
  if (!thread_.joinable()) return;
  auto cmd = std::make_shared<Command>();
  cmd->kind = Command::Kind::shutdown;
  cmd->drain_timeout = timeout;
  commands_.post(std::move(cmd));
  thread_.join();
}

// ---------------------------------------------------------------- client thread

void ClientThread::apply(const std::shared_ptr<Command>& cmd) {
  switch (cmd->kind) {
    case Command::Kind::add: return apply_add(*cmd);
    case Command::Kind::remove: return apply_remove(cmd);
    case Command::Kind::shutdown: return apply_shutdown(*cmd);
    case Command::Kind::timing: return apply_timing(*cmd);
  }
}

void ClientThread::apply_add(Command& cmd) {
  const std::string address = cmd.dest->endpoint.str();
  Destination* old = replaced_by(cmd);
  for (const auto& d : destinations_) {
    if (d.get() != old && d->shared()->endpoint.peer() == cmd.dest->endpoint.peer())
      throw CommandError(CommandFailure::duplicate,
                         "destination " + address + " already exists (id " + std::to_string(d->shared()->id) + ")");
  }
  if (destinations_.size() - (old != nullptr ? 1 : 0) >= cfg_.max_destinations)
    throw CommandError(CommandFailure::limit_reached,
                       "already " + std::to_string(cfg_.max_destinations) + " destinations (--max-destinations)");
  if (shutting_down_) throw CommandError(CommandFailure::shutting_down, "relayd is shutting down");
  const std::size_t window = cmd.publisher ? cmd.publisher->max_in_flight() : 0;
  auto dest =
      make_destination(loop_, queue_, cmd.dest, cmd.start, cfg_.destination, std::move(cmd.publisher), cmd.resume);
  dest->start();
  destinations_.push_back(std::move(dest));
  if (old != nullptr) retire_replaced(old, *cmd.dest);
  publish_registry();
  spdlog::info("destination {} added (id {}, {}, cursor at message {})", address, cmd.dest->id,
               cmd.dest->endpoint.transport == Transport::tcp
                   ? fmt::format("framing {}", to_string(cmd.dest->endpoint.framing))
                   : fmt::format("{} in flight at most", window),
               cmd.dest->cursor.get());
  if (cmd.dest->endpoint.tls && !cmd.dest->endpoint.tls->verify)
    spdlog::warn("destination {}: TLS certificate verification is off (verify=0): anyone on the path can read it",
                 address);
  cmd.done.set_value(snapshot_of(*cmd.dest, queue_.tail(), steady_ns()));
}

// The destination a replacing add takes over from; its cursor becomes the new one's start.
Destination* ClientThread::replaced_by(Command& cmd) {
  if (!cmd.replaces) return nullptr;
  const std::uint64_t id = *cmd.replaces;
  Destination* old = find(id);
  if (old == nullptr || drains_.removing(id))
    throw CommandError(CommandFailure::unknown_id, "no destination with id " + std::to_string(id) + " to replace" +
                                                       (old != nullptr ? " (it is being removed)" : ""));
  cmd.resume = old->shared()->cursor.get();
  return old;
}

// Taken over: what it had not delivered is the new destination's now, so it is neither
// settled as sent nor counted as dropped_removed.
void ClientThread::retire_replaced(Destination* old, const DestinationShared& by) {
  old->refresh_gauges();
  spdlog::info("destination {} (id {}) replaced by {} (id {}), which goes on from message {} ({} messages behind)",
               old->shared()->endpoint.str(), old->shared()->id, by.endpoint.str(), by.id, by.cursor.get(),
               old->unsent(queue_.tail()));
  std::erase_if(destinations_, [&](const auto& p) { return p.get() == old; });
}

void ClientThread::apply_remove(const std::shared_ptr<Command>& cmd) {
  const std::uint64_t id = cmd->removal.id;
  Destination* dest = find(id);
  if (dest == nullptr) throw CommandError(CommandFailure::unknown_id, "no destination with id " + std::to_string(id));
  if (drains_.removing(id))
    throw CommandError(CommandFailure::unknown_id, "destination " + std::to_string(id) + " is already being removed");
  Drains::Entry entry{id, queue_.tail(), ev_now(loop_), cmd};
  if (!cmd->removal.drain) {
    // At once: only this destination; other drains in progress keep their own deadlines.
    drains_.forget(id);
    if (!dest->mid_message()) return finish_removal(entry, dest, Drains::Finish::immediate);
    // Half a frame is on the wire: finish that one message (for at most a second) so the peer
    // never sees a cut frame, then remove.
    entry.target = dest->message_in_progress_end();
    entry.deadline += kFinishMessageSeconds;
    entry.immediate = true;
    drains_.add(std::move(entry));
    return check_drains();
  }
  entry.deadline += seconds(cmd->removal.drain_timeout);
  drains_.add(std::move(entry));
  dest->begin_drain();
  dest->on_data();
  check_drains();
}

// Shutdown: every destination drains to the final tail, bounded by the timeout; then the loop
// ends.
void ClientThread::apply_shutdown(Command& cmd) {
  shutting_down_ = true;
  const std::uint64_t tail = queue_.tail();
  const ev_tstamp deadline = ev_now(loop_) + seconds(cmd.drain_timeout);
  for (auto& d : destinations_) {
    d->begin_drain();
    drains_.drain_to(d->shared()->id, tail, deadline);
  }
  cmd.done.set_value({});
  check_drains();
}

void ClientThread::apply_timing(Command& cmd) {
  cfg_.destination = cmd.timing;
  for (auto& d : destinations_) d->set_timing(cfg_.destination);
  spdlog::debug("destination timing: reconnect {}-{} s, connect timeout {} s, keepalive {}/{}/{}",
                cfg_.destination.reconnect_min, cfg_.destination.reconnect_max, cfg_.destination.connect_timeout,
                cfg_.destination.keepalive_idle, cfg_.destination.keepalive_interval, cfg_.destination.keepalive_count);
  cmd.done.set_value({});
}

Destination* ClientThread::find(std::uint64_t id) const {
  for (const auto& d : destinations_) {
    if (d->shared()->id == id) return d.get();
  }
  return nullptr;
}

// Finishes every drain that reached its target or its deadline.
void ClientThread::check_drains() {
  const auto finished = drains_.take_finished(ev_now(loop_), [this](const Drains::Entry& e) {
    const Destination* dest = find(e.id);
    return dest == nullptr || dest->reached(e.target);
  });
  for (const auto& f : finished) finish_removal(f.entry, find(f.entry.id), f.how);
  if (shutting_down_ && drains_.empty()) ev_break(loop_, EVBREAK_ALL);
}

void ClientThread::finish_removal(const Drains::Entry& e, Destination* dest, Drains::Finish how) {
  if (dest == nullptr) {
    // Gone by another path; a caller still waiting is told so rather than left to its deadline.
    if (e.cmd)
      e.cmd->done.set_exception(std::make_exception_ptr(
          CommandError(CommandFailure::unknown_id, "destination " + std::to_string(e.id) + " was removed meanwhile")));
    return;
  }
  // One tail for the count and the final snapshot, so its lag is what was counted as removed.
  const std::uint64_t tail = queue_.tail();
  // Stopping with the queue on disk: what is left stays queued (its position is recorded and the
  // next start resumes there), so it is neither settled as sent nor counted as removed.
  const bool kept = shutting_down_ && queue_.durable();
  if (!kept) dest->settle_unacked();
  const std::uint64_t left = dest->unsent(tail);
  if (!kept) dest->shared()->counters.dropped_removed.add(left);
  dest->refresh_gauges();
  const DestinationSnapshot last = snapshot_of(*dest->shared(), tail, steady_ns());
  if (kept && left > 0)
    spdlog::info("destination {} stopped with {} messages unsent: kept in the data directory for the next start",
                 last.address, left);
  else if (left > 0 || how == Drains::Finish::timed_out)
    spdlog::warn("destination {} removed with {} messages unsent{}", last.address, left,
                 how == Drains::Finish::timed_out   ? " (drain timed out)"
                 : how == Drains::Finish::immediate ? " (removed at once)"
                                                    : "");
  else
    spdlog::info("destination {} removed, everything queued for it was written", last.address);
  if (shutting_down_) keep_for_report_.push_back(dest->shared());
  std::erase_if(destinations_, [&](const auto& p) { return p.get() == dest; });
  publish_registry();
  if (e.cmd) e.cmd->done.set_value(last);
}

void ClientThread::publish_registry() {
  std::vector<std::shared_ptr<DestinationShared>> now;
  now.reserve(destinations_.size() + keep_for_report_.size());
  for (const auto& d : destinations_) now.push_back(d->shared());
  for (const auto& d : keep_for_report_) now.push_back(d);
  registry_.publish(std::move(now));
}

}  // namespace relay
