#include "server_thread.hpp"

#include <ev.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <stdexcept>

#include "ingest_pacer.hpp"
#include "listener.hpp"
#include "mailbox.hpp"
#include "tcp_listener.hpp"
#include "thread_name.hpp"
#include "udp_listener.hpp"

namespace relay {

// The loop-side state the header does not need to show.
struct ServerThread::Command {
  ListenerChange change;
  std::promise<ListenerChangeResult> done;
};

struct ServerThread::Impl {
  ev_async wake{};     // stop(): the only thread-safe way into a running libev loop
  ev_async command{};  // change_listeners(): commands waiting in `mailbox`
  Mailbox<Command> mailbox;
  ev_prepare pace{};  // before each poll: how long to let datagrams accumulate
  std::unique_ptr<IngestPacer> pacer;
  bool stopped = false;
};

namespace {

struct ev_loop* new_loop() {
  // epoll is what Linux offers; AUTO only for exotic kernels without it.
  constexpr unsigned kEpoll = static_cast<unsigned>(EVBACKEND_EPOLL) | static_cast<unsigned>(EVFLAG_NOENV);
  if (struct ev_loop* loop = ev_loop_new(kEpoll)) return loop;
  if (struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO)) return loop;
  throw std::runtime_error("server thread: cannot create an event loop");
}

std::unique_ptr<Listener> make_listener(const Endpoint& ep, Queue& queue, const IngestConfig& cfg,
                                        const std::function<void()>& on_published) {
  if (ep.transport == Transport::udp) return std::make_unique<UdpListener>(ep, queue, cfg, on_published);
  return std::make_unique<TcpListener>(ep, queue, cfg, on_published);
}

void on_wake(struct ev_loop* loop, ev_async*, int) { ev_break(loop, EVBREAK_ALL); }

// The smallest receive buffer the kernel granted a UDP listener (0: none).
std::uint64_t smallest_rcvbuf(const std::vector<ListenerInfo>& listeners) {
  std::uint64_t smallest = 0;
  for (const ListenerInfo& l : listeners) {
    const auto granted = static_cast<std::uint64_t>(std::max(0, l.rcvbuf_granted_bytes));
    if (granted > 0 && (smallest == 0 || granted < smallest)) smallest = granted;
  }
  return smallest;
}

}  // namespace

ServerThread::ServerThread(Queue& queue, const std::vector<Endpoint>& listen, IngestConfig cfg,
                           std::function<void()> on_published)
    : queue_(queue), cfg_(cfg), on_published_(std::move(on_published)), impl_(std::make_unique<Impl>()) {
  if (!on_published_) on_published_ = [] {};
  loop_ = new_loop();
  try {
    for (const Endpoint& ep : listen) {
      listeners_.push_back({ep, make_listener(ep, queue_, cfg_, on_published_)});
      spdlog::info("listening on {}", listeners_.back().listener->name());
    }
  } catch (...) {
    listeners_.clear();  // closes what was bound; the destructor will not run
    ev_loop_destroy(loop_);
    throw;
  }
}

ServerThread::~ServerThread() {
  stop();
  listeners_.clear();  // before the loop they were registered with
  ev_loop_destroy(loop_);
}

void ServerThread::start() {
  if (thread_.joinable() || impl_->stopped) return;
  ev_async_init(&impl_->wake, &on_wake);
  ev_async_start(loop_, &impl_->wake);
  ev_async_init(&impl_->command, &ServerThread::on_command);
  impl_->command.data = this;
  ev_async_start(loop_, &impl_->command);
  impl_->pacer = std::make_unique<IngestPacer>(cfg_.coalesce_seconds, smallest_rcvbuf(listeners()));
  ev_prepare_init(&impl_->pace, &ServerThread::on_prepare);
  impl_->pace.data = this;
  ev_prepare_start(loop_, &impl_->pace);
  for (auto& e : listeners_) e.listener->start(loop_);
  // Everything above happens-before the thread's first instruction (std::thread's guarantee).
  thread_ = std::thread([this] {
    name_this_thread("relayd-server");
    run();
  });
}

void ServerThread::run() { ev_run(loop_, 0); }

// libev sleeps the collect interval before polling only when the previous poll was less than
// that long ago, i.e. only while busy; the pacer sets it to 0 whenever traffic is light.
void ServerThread::on_prepare(struct ev_loop* loop, ev_prepare* w, int) {
  auto* self = static_cast<ServerThread*>(w->data);
  if (!self->retiring_.empty()) self->reap();
  IngestPacer& pacer = *self->impl_->pacer;
  const double now = ev_now(loop);
  if (!pacer.due(now)) return;
  const ListenerValues sum = self->own_totals();
  const double wait = pacer.update(now, {sum.received_messages, sum.received_bytes, sum.kernel_drops});
  ev_set_io_collect_interval(loop, wait);
  // relaxed (both): a gauge for readers; nothing else is published with it, and a reader that
  // pairs a new wait with an old time (or the reverse) is off by one window at most.
  self->ingest_wait_.store(wait, std::memory_order_relaxed);
  self->ingest_wait_at_.store(now, std::memory_order_relaxed);
}

// An idle loop runs no prepare watcher, so the last wait would stay on show; but after a quiet
// spell the next poll happens at once (libev only sleeps right after a poll) and the first window
// that ends recomputes the wait from the quiet rate. So a stale figure reads as 0.
double ServerThread::ingest_wait_seconds() const noexcept {
  constexpr double kStale = 10 * IngestPacer::kWindow;
  // relaxed: a gauge, see on_prepare.
  if (ev_time() - ingest_wait_at_.load(std::memory_order_relaxed) > kStale) return 0;
  return ingest_wait_.load(std::memory_order_relaxed);
}

// Call from the thread that owns the ServerThread. After join() this thread is the producer:
// the join orders the server thread's last append before the final publish here.
void ServerThread::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (thread_.joinable()) {
    ev_async_send(loop_, &impl_->wake);
    thread_.join();
    ev_async_stop(loop_, &impl_->wake);
    ev_async_stop(loop_, &impl_->command);
    ev_prepare_stop(loop_, &impl_->pace);
  }
  // Callers still waiting on a change learn it did not happen; their promises go with it.
  impl_->mailbox.take_all([](const std::shared_ptr<Command>& c) {
    c->done.set_value({{}, {}, {"relayd is stopping: the listeners did not change"}});
  });
  for (auto& e : listeners_) e.listener->stop();
  for (auto& l : retiring_) l->stop();
  queue_.hand_over_producer();
  queue_.publish();
}

std::vector<ListenerInfo> ServerThread::listeners() const {
  const std::lock_guard lock(view_mu_);
  std::vector<ListenerInfo> out;
  out.reserve(listeners_.size() + 1);
  for (const auto& e : listeners_) out.push_back(e.listener->info());
  if (!any_removed_) return out;
  ListenerInfo removed{std::string(kRemovedListeners), 0, removed_totals_};
  for (const auto& l : retiring_) removed.counters += read(l->counters());
  out.push_back(std::move(removed));
  return out;
}

std::vector<Endpoint> ServerThread::configured() const {
  const std::lock_guard lock(view_mu_);
  std::vector<Endpoint> out;
  for (const auto& e : listeners_) out.push_back(e.configured);
  return out;
}

ListenerValues ServerThread::totals() const {
  const std::lock_guard lock(view_mu_);
  return own_totals();
}

ListenerValues ServerThread::own_totals() const {
  ListenerValues sum = removed_totals_;
  for (const auto& e : listeners_) sum += read(e.listener->counters());
  for (const auto& l : retiring_) sum += read(l->counters());
  return sum;
}

ListenerChangeResult ServerThread::change_listeners(ListenerChange change, std::chrono::milliseconds wait) {
  if (impl_->stopped) return {{}, {}, {"relayd is stopping: the listeners did not change"}};
  if (!thread_.joinable()) return apply(change);  // before start(): this thread owns them
  auto cmd = std::make_shared<Command>();
  cmd->change = std::move(change);
  std::future<ListenerChangeResult> answer = cmd->done.get_future();
  impl_->mailbox.push(cmd);
  ev_async_send(loop_, &impl_->command);
  if (answer.wait_for(wait) != std::future_status::ready)
    return {{},
            {},
            {fmt::format("the server thread did not answer within {} ms; the listener change may still happen",
                         wait.count())}};
  return answer.get();
}

void ServerThread::on_command(struct ev_loop*, ev_async* w, int) {
  auto* self = static_cast<ServerThread*>(w->data);
  self->impl_->mailbox.take_all(
      [self](const std::shared_ptr<Command>& c) { c->done.set_value(self->apply(c->change)); });
}

namespace {

// Two listeners with the same key need the same socket: they cannot both be bound.
std::string socket_key(Endpoint ep) {
  ep.tls.reset();
  return ep.str();
}

}  // namespace

ListenerChangeResult ServerThread::apply(const ListenerChange& change) {
  ListenerChangeResult out;
  std::vector<std::string> removed_keys;
  for (const auto& r : change.remove) {
    const auto it = std::ranges::find_if(listeners_, [&](const Entry& e) { return e.configured.str() == r; });
    if (it != listeners_.end()) removed_keys.push_back(socket_key(it->configured));
  }
  const auto reuses_socket = [&](const Endpoint& ep) { return std::ranges::count(removed_keys, socket_key(ep)) > 0; };
  for (const auto& ep : change.add) {
    if (!reuses_socket(ep)) bind(ep, out);
  }
  for (const auto& r : change.remove) retire(r, change.grace, out);
  for (const auto& ep : change.add) {
    if (reuses_socket(ep)) bind(ep, out);
  }
  if (change.limits) {
    cfg_.max_connections = change.limits->max_connections;
    cfg_.idle_timeout = change.limits->idle_timeout;
    for (auto& e : listeners_) e.listener->set_limits(cfg_);
  }
  return out;
}

void ServerThread::bind(const Endpoint& ep, ListenerChangeResult& out) {
  try {
    auto l = make_listener(ep, queue_, cfg_, on_published_);
    if (thread_.joinable()) l->start(loop_);
    spdlog::info("listening on {}", l->name());
    out.added.push_back(l->name());
    const std::lock_guard lock(view_mu_);
    listeners_.push_back({ep, std::move(l)});
  } catch (const std::exception& e) {
    spdlog::error("reload: {}", e.what());
    out.failed.push_back(fmt::format("add {}: {}", ep.str(), e.what()));
  }
}

void ServerThread::retire(const std::string& configured, double grace, ListenerChangeResult& out) {
  const auto it = std::ranges::find_if(listeners_, [&](const Entry& e) { return e.configured.str() == configured; });
  if (it == listeners_.end()) {
    out.failed.push_back(fmt::format("remove {}: no such listener", configured));
    return;
  }
  Listener& retiring = *it->listener;
  const bool running = thread_.joinable();
  if (running)
    retiring.retire(grace);
  else
    retiring.stop();
  out.removed.push_back(retiring.name());
  spdlog::info("listener {} removed{}", retiring.name(),
               retiring.finished() ? "" : "; its open connections are read until they end");
  const std::lock_guard lock(view_mu_);  // readers walk listeners_: the entry moves under it
  std::unique_ptr<Listener> l = std::move(it->listener);
  listeners_.erase(it);
  any_removed_ = true;
  if (running)
    retiring_.push_back(std::move(l));
  else
    removed_totals_ += read(l->counters());
}

// Listeners whose last connection ended: their counts stay in the totals.
void ServerThread::reap() {
  const std::lock_guard lock(view_mu_);
  std::erase_if(retiring_, [this](const std::unique_ptr<Listener>& l) {
    if (!l->finished()) return false;
    l->stop();
    removed_totals_ += read(l->counters());
    return true;
  });
}

}  // namespace relay
