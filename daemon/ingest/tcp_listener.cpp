#include "tcp_listener.hpp"

#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "tls_server_session.hpp"

namespace relay {

// One accepted ingest connection: its watcher and the bytes of a frame not yet complete.
struct TcpListener::Connection {
  ev_io io{};
  int fd = -1;
  int events = EV_READ;                   // what `io` waits for: EV_WRITE only while TLS needs to write
  std::string peer;                       // for log lines
  FrameReader frames;                     // memory follows what arrived (frame_reader.hpp)
  std::unique_ptr<TlsServerSession> tls;  // tls@ listeners only
  ev_tstamp last_read = 0;                // the loop's clock at accept or at the last read
  TcpListener* owner = nullptr;
};

// What one receive call brought: bytes, nothing yet, or the end of the stream.
struct TcpListener::Received {
  enum class End { none, closed, failed };
  std::size_t bytes = 0;
  End end = End::none;
  std::string why;  // failed: the system's or TLS's reason

  static Received got(std::size_t n) { return {n, End::none, {}}; }
  static Received nothing() { return got(0); }
  static Received closed() { return {0, End::closed, {}}; }
  static Received failed(std::string reason) { return {0, End::failed, std::move(reason)}; }
};

namespace {

std::string peer_name(const sockaddr_storage& addr) {
  Endpoint peer;
  peer.transport = Transport::tcp;
  peer.addr = addr;
  peer.port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(addr).sin6_port
                                               : reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  return peer.str();
}

}  // namespace

TcpListener::TcpListener(const Endpoint& ep, Queue& queue, const IngestConfig& cfg,
                         const std::function<void()>& on_published)
    : Listener(ep, queue, cfg, on_published),
      max_connections_(cfg.max_connections),
      idle_timeout_(cfg.idle_timeout),
      tls_(ep.tls ? TlsServerContext::build(ep) : nullptr) {
  try {
    open_socket();
  } catch (...) {
    stop();  // the destructor does not run for a throwing constructor
    throw;
  }
}

TcpListener::~TcpListener() { stop(); }

void TcpListener::open_socket() {
  fd_ = socket(bound_.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail(errno, "socket");
  const int one = 1;
  // REUSEADDR: a restarted relayd can bind while old connections sit in TIME_WAIT.
  if (setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) fail(errno, "SO_REUSEADDR");
  if (bound_.family() == AF_INET6 && setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
    fail(errno, "IPV6_V6ONLY");
  if (bind(fd_, reinterpret_cast<const sockaddr*>(&bound_.addr), bound_.addr_len) != 0) fail(errno);
  if (listen(fd_, SOMAXCONN) != 0) fail(errno, "listen");
  record_bound_address(fd_);
}

void TcpListener::start(struct ev_loop* loop) {
  loop_ = loop;
  ev_io_init(&accept_io_, &TcpListener::on_accept, fd_, EV_READ);
  accept_io_.data = this;
  ev_io_start(loop_, &accept_io_);
  ev_timer_init(&retry_, &TcpListener::on_retry, kAcceptRetrySeconds, 0.);
  retry_.data = this;
  ev_timer_init(&idle_check_, &TcpListener::on_idle_check, 0., 0.);
  idle_check_.data = this;
  if (idle_timeout_ > 0) start_idle_check(std::max(0.05, idle_timeout_ / 4));
}

void TcpListener::start_idle_check(double every) {
  ev_timer_stop(loop_, &idle_check_);
  ev_timer_set(&idle_check_, every, every);
  ev_timer_start(loop_, &idle_check_);
}

void TcpListener::set_limits(const IngestConfig& cfg) {
  max_connections_ = cfg.max_connections;  // connections over a lowered limit stay; new ones wait
  idle_timeout_ = cfg.idle_timeout;
  if (loop_ == nullptr || retiring_) return;
  if (idle_timeout_ > 0)
    start_idle_check(std::max(0.05, idle_timeout_ / 4));
  else
    ev_timer_stop(loop_, &idle_check_);
}

// Closing the listening socket first: from here on a connect is refused, so no peer starts
// sending to a listener that is going away.
void TcpListener::retire(double grace) {
  if (retiring_ || loop_ == nullptr) return;
  retiring_ = true;
  ev_io_stop(loop_, &accept_io_);
  ev_timer_stop(loop_, &retry_);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  retire_deadline_ = ev_now(loop_) + std::max(0.0, grace);
  start_idle_check(0.1);
}

// A connection of a retiring listener goes once quiet for kRetireQuietSeconds (its sender has
// likely moved on), all of them at the deadline: each is read once more first, so what the
// kernel holds for it is delivered; a frame still cut short then is counted as partial.
void TcpListener::close_retiring(ev_tstamp now) {
  const bool deadline = now >= retire_deadline_;
  std::vector<int> closing;
  for (const auto& [fd, c] : conns_) {
    if (deadline || now - c->last_read >= kRetireQuietSeconds) closing.push_back(fd);
  }
  if (deadline && !closing.empty())
    spdlog::info("listener {}: removed; closing its {} connections still open after the drain timeout", name_,
                 closing.size());
  for (const int fd : closing) {
    if (auto it = conns_.find(fd); it != conns_.end()) read_ready(*it->second);
    if (auto it = conns_.find(fd); it != conns_.end()) {
      drop_partial_frame(*it->second);
      close_connection(*it->second);
    }
  }
  if (conns_.empty()) ev_timer_stop(loop_, &idle_check_);
}

// A frame half received when relayd shuts down is lost like one cut by the peer. Counting here
// keeps the single writer: stop() runs once the server thread has been joined (server_thread.cpp).
void TcpListener::stop() {
  while (!conns_.empty()) {
    drop_partial_frame(*conns_.begin()->second);
    close_connection(*conns_.begin()->second);
  }
  if (loop_ != nullptr) {
    ev_io_stop(loop_, &accept_io_);
    ev_timer_stop(loop_, &retry_);
    ev_timer_stop(loop_, &idle_check_);
  }
  loop_ = nullptr;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void TcpListener::on_accept(struct ev_loop*, ev_io* w, int) {
  auto* self = static_cast<TcpListener*>(w->data);
  try {
    self->accept_ready();
  } catch (const std::exception& e) {
    self->callback_failed(e);
  }
}

void TcpListener::on_retry(struct ev_loop* loop, ev_timer* w, int) {
  auto* self = static_cast<TcpListener*>(w->data);
  ev_io_start(loop, &self->accept_io_);
}

void TcpListener::on_readable(struct ev_loop*, ev_io* w, int) {
  auto* c = static_cast<Connection*>(w->data);
  TcpListener* self = c->owner;
  try {
    self->read_ready(*c);
  } catch (const std::exception& e) {
    self->callback_failed(e);
    self->drop_partial_frame(*c);
    self->close_connection(*c);
  }
}

void TcpListener::accept_ready() {
  for (int i = 0; i < kMaxAcceptsPerWakeup && accept_one(); ++i) {}
}

bool TcpListener::accept_one() {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  const int fd = accept4(fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) return true;  // that peer only
    receive_error(errno, "accept", now_ns());
    // Out of descriptors or memory: the pending connection stays ready, so a level-triggered
    // watcher would spin; pause accepting briefly instead.
    pause_accepting();
    return false;
  }
  if (conns_.size() >= max_connections_) {
    refuse(fd, peer_name(addr));
    return true;
  }
  auto c = std::make_unique<Connection>();
  c->fd = fd;
  c->peer = peer_name(addr);
  c->last_read = ev_now(loop_);
  c->owner = this;
  if (tls_) c->tls = std::make_unique<TlsServerSession>(*tls_, fd);
  ev_io_init(&c->io, &TcpListener::on_readable, fd, EV_READ);
  c->io.data = c.get();
  ev_io_start(loop_, &c->io);
  counters_.connections_accepted.add();
  spdlog::debug("listener {}: accepted connection from {}", name_, c->peer);
  conns_.emplace(fd, std::move(c));
  return true;
}

// Over --max-connections: closed at once, so descriptors and memory stay bounded (the peer sees
// the connection close and may retry).
void TcpListener::refuse(int fd, const std::string& peer) {
  counters_.connections_refused.add();  // before the peer can see the close
  close(fd);
  if (refused_log_.allow(now_ns()))
    spdlog::warn("listener {}: refused a connection from {}: {} are open (--max-connections){}", name_, peer,
                 conns_.size(), held_back(refused_log_));
}

// Closes every connection that sent nothing for --ingest-idle-timeout; runs a few times per
// timeout, so one lives at most a quarter longer.
void TcpListener::close_idle(ev_tstamp now) {
  std::vector<Connection*> idle;
  for (const auto& [fd, c] : conns_) {
    if (now - c->last_read >= idle_timeout_) idle.push_back(c.get());
  }
  for (Connection* c : idle) {
    spdlog::debug("listener {}: closing connection from {}: idle for {:.0f} s", name_, c->peer, now - c->last_read);
    counters_.connections_closed_idle.add();
    drop_partial_frame(*c);
    close_connection(*c);
  }
}

void TcpListener::on_idle_check(struct ev_loop* loop, ev_timer* w, int) {
  auto* self = static_cast<TcpListener*>(w->data);
  try {
    if (self->retiring_)
      self->close_retiring(ev_now(loop));
    else
      self->close_idle(ev_now(loop));
  } catch (const std::exception& e) {
    self->callback_failed(e);
  }
}

void TcpListener::pause_accepting() {
  ev_io_stop(loop_, &accept_io_);
  ev_timer_set(&retry_, kAcceptRetrySeconds, 0.);
  ev_timer_start(loop_, &retry_);
}

// One read per wake-up (the watcher is level-triggered), then every complete frame in the
// buffer is appended and published together. TLS may hold the rest of a record it decrypted,
// with nothing left on the socket to wake us: that is read at once.
void TcpListener::read_ready(Connection& c) {
  if (c.tls && !c.tls->established() && !shake_hands(c)) return;
  bool more = true;
  while (more) {
    const Received r = receive(c, c.frames.room());
    if (r.end != Received::End::none) return stream_ended(c, r);
    if (r.bytes == 0) return;
    c.frames.received(r.bytes);
    c.last_read = ev_now(loop_);
    const bool good = parse_frames(c, now_ns());
    end_batch();
    if (!good) return close_connection(c);
    c.frames.shrink();
    more = c.tls && c.tls->pending();
  }
}

TcpListener::Received TcpListener::receive(Connection& c, std::span<std::byte> room) {
  if (c.tls) return receive_tls(c, room);
  const ssize_t n = ::read(c.fd, room.data(), room.size());
  if (n > 0) return Received::got(static_cast<std::size_t>(n));
  if (n == 0) return Received::closed();
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Received::nothing();
  return Received::failed(std::strerror(errno));
}

TcpListener::Received TcpListener::receive_tls(Connection& c, std::span<std::byte> room) {
  const TlsServerSession::Read r = c.tls->read(room);
  watch(c, r.step == TlsStep::want_write ? EV_WRITE : EV_READ);
  switch (r.step) {
    case TlsStep::done: return Received::got(r.bytes);
    case TlsStep::want_read:
    case TlsStep::want_write: return Received::nothing();
    case TlsStep::closed: return Received::closed();
    case TlsStep::failed: break;
  }
  return Received::failed(c.tls->error());
}

// The peer closed, or the connection failed: a frame it cut is lost, counted.
void TcpListener::stream_ended(Connection& c, const Received& r) {
  if (r.end == Received::End::failed) {
    counters_.receive_errors.add();
    spdlog::debug("listener {}: connection from {} failed: {}", name_, c.peer, r.why);
  } else {
    spdlog::debug("listener {}: {} closed the connection{}", name_, c.peer,
                  c.frames.pending() > 0 ? " in the middle of a frame" : "");
  }
  drop_partial_frame(c);
  close_connection(c);
}

// A plaintext client, garbage, no or a wrong client certificate: that connection only ends.
bool TcpListener::shake_hands(Connection& c) {
  const TlsStep step = c.tls->handshake();
  if (step == TlsStep::done) {
    watch(c, EV_READ);
    spdlog::debug("listener {}: TLS session with {}: {}", name_, c.peer, c.tls->agreed());
    return true;
  }
  if (step == TlsStep::want_read || step == TlsStep::want_write) {
    watch(c, step == TlsStep::want_write ? EV_WRITE : EV_READ);
    return false;
  }
  counters_.tls_handshake_failures.add();
  const std::int64_t now = now_ns();
  if (handshake_log_.allow(now))
    spdlog::warn("listener {}: TLS handshake with {} failed: {}{}", name_, c.peer, c.tls->error(),
                 held_back(handshake_log_));
  close_connection(c);
  return false;
}

void TcpListener::watch(Connection& c, int events) {
  if (c.events == events) return;
  ev_io_stop(loop_, &c.io);
  ev_io_set(&c.io, c.fd, events);
  ev_io_start(loop_, &c.io);
  c.events = events;
}

bool TcpListener::parse_frames(Connection& c, std::int64_t now) {
  const auto bad =
      c.frames.take_frames(max_message_, [this, now](std::span<const std::byte> payload) { deliver(payload, now); });
  if (!bad) return true;
  count_bad_frame(c, *bad, now);
  return false;
}

// The frames before the bad header were delivered; everything from it on goes with the
// connection (the caller closes it).
void TcpListener::count_bad_frame(const Connection& c, const OversizedFrame& bad, std::int64_t now) {
  oversized(bad.length, now);
  counters_.connections_closed_bad_frame.add();
  counters_.dropped_bad_frame_bytes.add(bad.dropped_bytes);
  if (bad_frame_log_.allow(now))
    spdlog::warn("listener {}: closing connection from {}: frame of {} bytes exceeds --max-message-size {}{}", name_,
                 c.peer, bad.length, max_message_, held_back(bad_frame_log_));
}

// After parse_frames the reader holds at most the start of one frame: lost when the
// connection ends.
void TcpListener::drop_partial_frame(const Connection& c) {
  if (c.frames.pending() > 0) counters_.dropped_partial_frames.add();
}

void TcpListener::close_connection(Connection& c) {
  if (loop_ != nullptr) ev_io_stop(loop_, &c.io);
  close(c.fd);
  conns_.erase(c.fd);  // destroys c
}

}  // namespace relay
