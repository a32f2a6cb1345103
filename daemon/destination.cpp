#include "destination.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <spdlog/spdlog.h>

namespace relay {

namespace {

// Messages framed per write; enough for ~64 KiB of small messages in one syscall.
constexpr std::size_t kBatch = 1024;
// Writes per wake-up before yielding to the loop, so one busy destination cannot starve others.
constexpr int kWritesPerWake = 16;

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

DestinationSnapshot snapshot_of(const DestinationShared& d, std::uint64_t tail, std::int64_t now_ns) {
  DestinationSnapshot s;
  s.id = d.id;
  s.address = d.endpoint.str();
  s.framing = d.endpoint.framing;
  s.state = d.state.get();
  s.counters = read(d.counters);
  s.cursor = d.cursor.get();
  s.lag_messages = tail > s.cursor ? tail - s.cursor : 0;
  const std::int64_t since = d.pending_since_ns.get();
  s.lag_seconds = (since > 0 && s.lag_messages > 0 && now_ns > since) ? (now_ns - since) / 1e9 : 0.0;
  // acquire: pairs with the release in fail(); the string is immutable once published.
  if (auto err = d.last_error.load(std::memory_order_acquire)) s.last_error = *err;
  return s;
}

Destination::Destination(struct ev_loop* loop, Queue& queue, std::shared_ptr<DestinationShared> shared,
                         StartAt start, const DestinationConfig& cfg)
    : loop_(loop),
      queue_(queue),
      shared_(std::move(shared)),
      cfg_(cfg),
      cursor_(queue, start),
      views_(kBatch),
      rng_(static_cast<unsigned>(shared_->id * 7919 + 17)) {
  ev_init(&io_, &Destination::on_io);
  io_.data = this;
  ev_init(&read_, &Destination::on_read);
  read_.data = this;
  ev_init(&timer_, &Destination::on_timer);
  timer_.data = this;
  shared_->cursor.set(cursor_.id());
}

Destination::~Destination() {
  ev_io_stop(loop_, &io_);
  ev_io_stop(loop_, &read_);
  ev_timer_stop(loop_, &timer_);
  if (fd_ >= 0) close(fd_);
}

void Destination::set_state(DestinationState s) { shared_->state.set(s); }

void Destination::start() { connect_now(); }

void Destination::connect_now() {
  set_state(draining_ ? DestinationState::draining : DestinationState::connecting);
  const Endpoint& ep = shared_->endpoint;
  fd_ = socket(ep.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return fail("socket: " + errno_text(errno), false);
  set_keepalive(fd_, cfg_);
  if (connect(fd_, reinterpret_cast<const sockaddr*>(&ep.addr), ep.addr_len) < 0 && errno != EINPROGRESS)
    return fail("connect: " + errno_text(errno), false);
  ev_io_set(&io_, fd_, EV_WRITE);
  ev_io_start(loop_, &io_);
  ev_timer_set(&timer_, cfg_.connect_timeout, 0.0);
  ev_timer_start(loop_, &timer_);
}

void Destination::connected() {
  ev_timer_stop(loop_, &timer_);
  connected_ = true;
  attempts_ = 0;
  shared_->counters.connects.add();
  if (ever_connected_) shared_->counters.reconnects.add();
  ever_connected_ = true;
  set_state(draining_ ? DestinationState::draining : DestinationState::connected);
  spdlog::info("destination {} connected", shared_->endpoint.str());
  ev_io_set(&read_, fd_, EV_READ);
  ev_io_start(loop_, &read_);
  arm_write(false);
  flush();
}

void Destination::fail(const std::string& why, bool was_connected) {
  ev_io_stop(loop_, &io_);
  ev_io_stop(loop_, &read_);
  ev_timer_stop(loop_, &timer_);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  connected_ = false;
  if (was_connected) {
    shared_->counters.disconnects.add();
    if (partial_ > 0) shared_->counters.resent_partial.add();
  } else {
    shared_->counters.connect_failures.add();
  }
  partial_ = 0;    // the cut message goes again, whole, on the next connection
  carry_sent_ = 0;
  // release: readers (snapshot_of) see a fully built string.
  shared_->last_error.store(std::make_shared<const std::string>(why), std::memory_order_release);
  if (was_connected || attempts_ == 0)
    spdlog::warn("destination {}: {}", shared_->endpoint.str(), why);
  else
    spdlog::debug("destination {}: {}", shared_->endpoint.str(), why);
  schedule_reconnect();
}

// Exponential backoff with "equal jitter": half the delay fixed, half random, so many relays
// restarted together do not reconnect in lockstep.
void Destination::schedule_reconnect() {
  set_state(draining_ ? DestinationState::draining : DestinationState::backing_off);
  const double base = std::min(cfg_.reconnect_max, cfg_.reconnect_min * std::pow(2.0, std::min(attempts_, 30u)));
  ++attempts_;
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  ev_timer_set(&timer_, base * jitter(rng_), 0.0);
  ev_timer_start(loop_, &timer_);
}

void Destination::on_timer(struct ev_loop*, ev_timer* w, int) {
  auto* self = static_cast<Destination*>(w->data);
  if (self->fd_ >= 0) return self->fail("connect timed out", false);
  self->connect_now();
}

void Destination::on_io(struct ev_loop*, ev_io* w, int) {
  auto* self = static_cast<Destination*>(w->data);
  if (self->connected_) return self->flush();
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return self->fail("connect: " + errno_text(err), false);
  self->connected();
}

// The peer should never send; reading tells us promptly when it closes or resets.
void Destination::on_read(struct ev_loop*, ev_io* w, int) {
  auto* self = static_cast<Destination*>(w->data);
  char scratch[4096];
  const ssize_t n = recv(self->fd_, scratch, sizeof scratch, MSG_DONTWAIT);
  if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) return;
  self->fail(n == 0 ? "peer closed the connection" : "read: " + errno_text(errno), true);
}

void Destination::arm_write(bool on) {
  if (on && !ev_is_active(&io_)) {
    ev_io_set(&io_, fd_, EV_WRITE);
    ev_io_start(loop_, &io_);
  } else if (!on && ev_is_active(&io_)) {
    ev_io_stop(loop_, &io_);
  }
}

void Destination::on_data() {
  apply_floor();
  if (connected_ && !ev_is_active(&io_)) flush();
}

// The slow-destination policy, consumer side: when the queue budget forced the floor past our
// cursor, jump to it and count what we skipped. A half-written message is kept in `carry_` and
// finished first, so the peer never sees a cut frame.
void Destination::apply_floor() {
  if (partial_ > 0 && cursor_.below_floor()) keep_partial_message();
  const std::uint64_t skipped = cursor_.skip_to_floor();
  if (skipped == 0) return;
  // The carried message (if any) is among the skipped ids but will still be delivered.
  shared_->counters.dropped_lagging.add(carry_.empty() ? skipped : skipped - 1);
  shared_->cursor.set(cursor_.id());
}

// Copies the half-written message at the cursor, framed, into carry_ (rare: only when the floor
// overtakes a destination in the middle of a message).
void Destination::keep_partial_message() {
  MessageView first;
  if (cursor_.peek(std::span(&first, 1)) != 1) return;
  FrameBatch& one = frames_;
  one.build(shared_->endpoint.framing, std::span(&first, 1), 0);
  carry_.clear();
  for (std::size_t i = 0; i < one.iov_count(); ++i)
    carry_.append(static_cast<const char*>(one.iov()[i].iov_base), one.iov()[i].iov_len);
  carry_sent_ = partial_;
  partial_ = 0;
}

void Destination::flush() {
  for (int i = 0; i < kWritesPerWake && connected_; ++i) {
    if (!carry_.empty()) {
      if (!write_carry()) return;
      continue;
    }
    if (!write_batch()) return;
  }
  // Still more to send after our share of this wake-up: come back when the loop polls again.
  if (connected_) arm_write(true);
}

// Returns true when the carried message is fully written.
bool Destination::write_carry() {
  const ssize_t n = send(fd_, carry_.data() + carry_sent_, carry_.size() - carry_sent_, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) arm_write(true);
    else fail("write: " + errno_text(errno), true);
    return false;
  }
  carry_sent_ += static_cast<std::size_t>(n);
  shared_->counters.sent_bytes.add(static_cast<std::uint64_t>(n));
  if (carry_sent_ < carry_.size()) {
    arm_write(true);
    return false;
  }
  shared_->counters.sent_messages.add();
  carry_.clear();
  carry_sent_ = 0;
  return true;
}

// One sendmsg of as many queued messages as fit. Returns true when everything framed went out
// and more may be queued; false when caught up, the socket is full, or the connection failed.
bool Destination::write_batch() {
  const std::size_t have = cursor_.peek(views_);
  if (have == 0) {
    arm_write(false);
    if (draining_) set_state(DestinationState::draining);
    return false;
  }
  const std::size_t framed = frames_.build(shared_->endpoint.framing, std::span(views_.data(), have), partial_);
  msghdr msg{};
  msg.msg_iov = frames_.iov();
  msg.msg_iovlen = frames_.iov_count();
  const ssize_t n = sendmsg(fd_, &msg, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) arm_write(true);
    else fail("write: " + errno_text(errno), true);
    return false;
  }
  // Account whole messages written; keep the remainder of a cut one in partial_.
  std::size_t left = static_cast<std::size_t>(n) + partial_;
  std::size_t done = 0;
  while (done < framed) {
    const std::size_t size = framed_size(shared_->endpoint.framing, views_[done]);
    if (left < size) break;
    left -= size;
    ++done;
  }
  partial_ = left;
  cursor_.advance(done);
  shared_->counters.sent_messages.add(done);
  shared_->counters.sent_bytes.add(static_cast<std::uint64_t>(n));
  shared_->cursor.set(cursor_.id());
  if (static_cast<std::size_t>(n) < frames_.bytes()) {
    arm_write(true);
    return false;
  }
  return true;
}

void Destination::begin_drain() {
  draining_ = true;
  set_state(DestinationState::draining);
}

bool Destination::reached(std::uint64_t target) const {
  return carry_.empty() && partial_ == 0 && cursor_.id() >= target;
}

std::uint64_t Destination::pending() const { return cursor_.lag(); }

void Destination::refresh_gauges() {
  shared_->cursor.set(cursor_.id());
  shared_->pending_since_ns.set(cursor_.pending_since_ns());
}

}  // namespace relay
