#include "server_thread.hpp"

#include <ev.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "ingest_pacer.hpp"
#include "listener.hpp"
#include "tcp_listener.hpp"
#include "thread_name.hpp"
#include "udp_listener.hpp"

namespace relay {

// The loop-side state the header does not need to show.
struct ServerThread::Impl {
  ev_async wake{};    // stop(): the only thread-safe way into a running libev loop
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
      listeners_.push_back(make_listener(ep, queue_, cfg_, on_published_));
      spdlog::info("listening on {}", listeners_.back()->name());
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
  impl_->pacer = std::make_unique<IngestPacer>(cfg_.coalesce_seconds, smallest_rcvbuf(listeners()));
  ev_prepare_init(&impl_->pace, &ServerThread::on_prepare);
  impl_->pace.data = this;
  ev_prepare_start(loop_, &impl_->pace);
  for (auto& l : listeners_) l->start(loop_);
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
  IngestPacer& pacer = *self->impl_->pacer;
  const double now = ev_now(loop);
  if (!pacer.due(now)) return;
  const ListenerValues sum = self->totals();
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
    ev_prepare_stop(loop_, &impl_->pace);
  }
  for (auto& l : listeners_) l->stop();
  queue_.hand_over_producer();
  queue_.publish();
}

std::vector<ListenerInfo> ServerThread::listeners() const {
  std::vector<ListenerInfo> out;
  out.reserve(listeners_.size());
  for (const auto& l : listeners_) out.push_back(l->info());
  return out;
}

ListenerValues ServerThread::totals() const {
  ListenerValues sum;
  for (const auto& l : listeners_) sum += read(l->counters());
  return sum;
}

}  // namespace relay
