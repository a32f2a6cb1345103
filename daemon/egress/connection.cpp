#include "connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>

#include "clock.hpp"

namespace relay {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

void set_keepalive(int fd, const DestinationConfig& cfg) {
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &cfg.keepalive_idle, sizeof cfg.keepalive_idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &cfg.keepalive_interval, sizeof cfg.keepalive_interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cfg.keepalive_count, sizeof cfg.keepalive_count);
  // Latency over packet count: batches are already large under load.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

}  // namespace

Connection::Connection(struct ev_loop* loop, DestinationShared& shared, const DestinationConfig& cfg,
                       ConnectionOwner& owner)
    : loop_(loop),
      shared_(shared),
      cfg_(cfg),
      owner_(owner),
      rng_(static_cast<unsigned>(shared.id * 7919 + 17)),
      tls_ctx_(shared.tls) {
  ev_init(&io_, &Connection::on_io);
  io_.data = this;
  ev_init(&read_, &Connection::on_read);
  read_.data = this;
  ev_init(&timer_, &Connection::on_timer);
  timer_.data = this;
}

Connection::~Connection() {
  if (up_ && tls_) tls_->close_notify();  // removed or stopping: a deliberate end
  ev_io_stop(loop_, &io_);
  ev_io_stop(loop_, &read_);
  ev_timer_stop(loop_, &timer_);
  if (fd_ >= 0) close(fd_);
}

void Connection::show(DestinationState s) { shared_.state.set(draining_ ? DestinationState::draining : s); }

void Connection::set_draining() {
  draining_ = true;
  show(DestinationState::draining);
}

void Connection::connect_now() {
  show(DestinationState::connecting);
  const Endpoint& ep = shared_.endpoint;
  fd_ = socket(ep.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return lose("socket: " + errno_text(errno), false);
  set_keepalive(fd_, cfg_);
  if (connect(fd_, reinterpret_cast<const sockaddr*>(&ep.addr), ep.addr_len) < 0 && errno != EINPROGRESS)
    return lose("connect: " + errno_text(errno), false);
  ev_io_set(&io_, fd_, EV_WRITE);
  ev_io_start(loop_, &io_);
  ev_timer_set(&timer_, cfg_.connect_timeout, 0.0);
  ev_timer_start(loop_, &timer_);
}

namespace {

// A connect to a local port nobody listens on may be given that very port as its source and meet
// itself (TCP simultaneous open): a "connection" that would take our writes and hold the port
// the real destination needs to listen on.
bool connected_to_itself(int fd) {
  sockaddr_storage self{}, peer{};
  socklen_t self_len = sizeof self, peer_len = sizeof peer;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&self), &self_len) != 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
    return false;
  return self_len == peer_len && std::memcmp(&self, &peer, self_len) == 0;
}

}  // namespace

// The TCP connect is done: a tls@ destination shakes hands first, still under the connect timer.
void Connection::connect_completed() {
  if (connected_to_itself(fd_)) return lose("connect: connected to itself: nothing listens there", false);
  if (!tls_ctx_) return established();
  show(DestinationState::connecting);
  try {
    tls_ = std::make_unique<TlsSession>(*tls_ctx_, fd_);
  } catch (const std::exception& e) {
    return handshake_failed(e.what());
  }
  handshake_step();
}

// Watches the one direction the handshake waits for.
void Connection::handshake_step() {
  const TlsStep step = tls_->handshake();
  if (step == TlsStep::done) return established();
  if (step == TlsStep::want_read || step == TlsStep::want_write) {
    ev_io_stop(loop_, &io_);
    ev_io_stop(loop_, &read_);
    ev_io* w = step == TlsStep::want_read ? &read_ : &io_;
    ev_io_set(w, fd_, step == TlsStep::want_read ? EV_READ : EV_WRITE);
    ev_io_start(loop_, w);
    return;
  }
  handshake_failed(std::string(tls_->error()));  // a copy: lose() frees the session
}

// One line per failure, at most one a second however often a misconfigured peer is retried.
void Connection::handshake_failed(const std::string& why) {
  shared_.counters.tls_handshake_failures.add();
  const std::string line = "TLS handshake failed: " + why;
  if (handshake_log_.allow(steady_ns())) {
    if (handshake_log_.suppressed() > 0)
      spdlog::warn("destination {}: {} ({} more failures not logged)", shared_.endpoint.str(), line,
                   handshake_log_.suppressed());
    else
      spdlog::warn("destination {}: {}", shared_.endpoint.str(), line);
  }
  lose(line, false, true);
}

void Connection::want_readable_for_write() {
  write_wants_read_ = true;
  want_writable(false);
}

void Connection::established() {
  ev_timer_stop(loop_, &timer_);
  ev_io_stop(loop_, &read_);
  up_ = true;
  attempts_ = 0;
  shared_.counters.connects.add();
  if (ever_connected_) shared_.counters.reconnects.add();
  ever_connected_ = true;
  show(DestinationState::connected);
  if (tls_)
    spdlog::info("destination {} connected ({})", shared_.endpoint.str(), tls_->agreed());
  else
    spdlog::info("destination {} connected", shared_.endpoint.str());
  ev_io_set(&read_, fd_, EV_READ);
  ev_io_start(loop_, &read_);
  want_writable(false);
  owner_.on_connected();
}

void Connection::lose(const std::string& why, bool was_connected, bool logged) {
  ev_io_stop(loop_, &io_);
  ev_io_stop(loop_, &read_);
  ev_timer_stop(loop_, &timer_);
  tls_.reset();  // no close_notify: the connection is already broken, or we give up on it
  write_wants_read_ = false;
  if (was_connected && fd_ >= 0) owner_.before_close();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  up_ = false;
  if (was_connected)
    shared_.counters.disconnects.add();
  else
    shared_.counters.connect_failures.add();
  // release: readers (snapshot_of) see a fully built string.
  shared_.last_error.store(std::make_shared<const std::string>(why), std::memory_order_release);
  // A refused destination would log every backoff step; the first failure of a run is enough.
  if (!logged && (was_connected || attempts_ == 0))
    spdlog::warn("destination {}: {}", shared_.endpoint.str(), why);
  else if (!logged)
    spdlog::debug("destination {}: {}", shared_.endpoint.str(), why);
  schedule_reconnect();
  owner_.on_lost(was_connected);
}

// Exponential backoff with "equal jitter": half the delay fixed, half random, so many relays
// restarted together do not reconnect in lockstep.
void Connection::schedule_reconnect() {
  show(DestinationState::backing_off);
  const double base = std::min(cfg_.reconnect_max, cfg_.reconnect_min * std::pow(2.0, std::min(attempts_, 30u)));
  ++attempts_;
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  ev_timer_set(&timer_, base * jitter(rng_), 0.0);
  ev_timer_start(loop_, &timer_);
}

void Connection::set_timing(const DestinationConfig& cfg) {
  cfg_ = cfg;
  if (fd_ >= 0) set_keepalive(fd_, cfg_);  // the socket of this attempt or connection, at once
  if (!ev_is_active(&timer_)) return;      // connected: nothing is timed
  // A pending timer only ever gets shorter: an attempt in progress ends within the new connect
  // timeout, a backoff wait within the new ceiling (jittered as schedule_reconnect() does).
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  const double limit = fd_ >= 0 ? cfg_.connect_timeout : cfg_.reconnect_max * jitter(rng_);
  if (ev_timer_remaining(loop_, &timer_) <= limit) return;
  ev_timer_stop(loop_, &timer_);
  ev_timer_set(&timer_, limit, 0.0);
  ev_timer_start(loop_, &timer_);
}

void Connection::want_writable(bool on) {
  if (on && !ev_is_active(&io_)) {
    ev_io_set(&io_, fd_, EV_WRITE);
    ev_io_start(loop_, &io_);
  } else if (!on && ev_is_active(&io_)) {
    ev_io_stop(loop_, &io_);
  }
}

void Connection::on_timer(struct ev_loop*, ev_timer* w, int) {
  auto* self = static_cast<Connection*>(w->data);
  if (self->fd_ >= 0 && self->tls_) return self->handshake_failed("timed out");
  if (self->fd_ >= 0) return self->lose("connect timed out", false);
  self->connect_now();
}

void Connection::on_io(struct ev_loop*, ev_io* w, int) {
  auto* self = static_cast<Connection*>(w->data);
  if (self->up_) return self->owner_.on_writable();
  if (self->tls_) return self->handshake_step();
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return self->lose("connect: " + errno_text(err), false);
  self->connect_completed();
}

// The peer should never send; reading tells us promptly when it closes or resets.
void Connection::on_read(struct ev_loop*, ev_io* w, int) {
  auto* self = static_cast<Connection*>(w->data);
  if (self->tls_) return self->up_ ? self->read_tls() : self->handshake_step();
  char scratch[4096];
  const ssize_t n = recv(self->fd_, scratch, sizeof scratch, MSG_DONTWAIT);
  if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) return;
  self->lose(n == 0 ? "peer closed the connection" : "read: " + errno_text(errno), true);
}

// A TLS peer does send (session tickets, alerts): records are read and dropped, and a write
// that waited for them goes on.
void Connection::read_tls() {
  const TlsStep step = tls_->drain_reads();
  // A copy: lose() frees the session that holds the text.
  if (step == TlsStep::closed || step == TlsStep::failed) return lose(std::string(tls_->error()), true);
  if (!write_wants_read_) return;
  write_wants_read_ = false;
  owner_.on_writable();
}

}  // namespace relay
