// connection: the life of one destination's TCP connection — connect (bounded by a timeout),
// keepalive, failure, exponential backoff with jitter, reconnect — and nothing about what is
// written on it (that is Destination's).
//
//   connecting ──▶ connected ──(write error, reset, peer close)──▶ backing_off ──▶ connecting …
//        └──(refused, timed out)──────────────────────────────────────┘
//
// A tls@ destination's connection adds a handshake between the TCP connect and `connected`
// (tls_session.hpp), bounded by the same connect timeout; a failed one counts as a connect
// failure and a tls_handshake_failure, logged with OpenSSL's reason (at most one line a
// second). Once up, the session is there for the owner's writes (tls()); the peer's records
// (session tickets, close_notify) are read and dropped, a close or error is a lost connection.
//
// The owner is told when a connection comes up, when its socket has room again and when it is
// lost; the connection counts connects, reconnects, connect_failures and disconnects itself.
// Thread: client thread only.
#pragma once

#include <ev.h>

#include <memory>
#include <random>
#include <string>

#include "destination_shared.hpp"
#include "egress_config.hpp"
#include "log_limiter.hpp"
#include "tls_session.hpp"

namespace relay {

// What a connection tells its owner, on the client thread.
class ConnectionOwner {
 public:
  virtual void on_connected() = 0;
  virtual void on_writable() = 0;
  // The connection is gone (a reconnect is already scheduled); `was_connected` tells a lost
  // connection from a failed attempt.
  virtual void on_lost(bool was_connected) = 0;
  // An established connection is about to be closed (broken, or relayd ends it): its socket is
  // still open for a last look (SIOCOUTQ still answers after a reset).
  virtual void before_close() {}

 protected:
  ~ConnectionOwner() = default;
};

class Connection {
 public:
  Connection(struct ev_loop* loop, DestinationShared& shared, const DestinationConfig& cfg, ConnectionOwner& owner);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start() { connect_now(); }  // first attempt
  bool up() const noexcept { return up_; }
  int fd() const noexcept { return fd_; }
  // Shown as state `draining` from now on, whatever the connection does.
  void set_draining();
  // Asks on_writable() for when the socket has room (on) or stops asking (off).
  void want_writable(bool on);
  bool awaiting_writable() const noexcept { return ev_is_active(&io_); }
  // Drops the connection after a write error and schedules the next attempt.
  void fail(const std::string& why) { lose(why, true); }
  // The TLS session of a tls@ destination's live connection; null for plain TCP.
  TlsSession* tls() const noexcept { return up_ ? tls_.get() : nullptr; }
  // A TLS write needs the peer's data first: on_writable() comes when the socket is readable.
  void want_readable_for_write();
  // New reconnect backoff, connect timeout and keepalive settings (ClientThread::
  // set_destination_timing() says what takes effect when).
  void set_timing(const DestinationConfig& cfg);

 private:
  static void on_io(struct ev_loop* loop, ev_io* w, int revents);
  static void on_read(struct ev_loop* loop, ev_io* w, int revents);
  static void on_timer(struct ev_loop* loop, ev_timer* w, int revents);

  void connect_now();
  void connect_completed();
  void handshake_step();
  void handshake_failed(const std::string& why);
  void read_tls();
  void established();
  // `logged`: the caller logged the fault already.
  void lose(const std::string& why, bool was_connected, bool logged = false);
  void schedule_reconnect();
  void show(DestinationState s);

  struct ev_loop* loop_;
  DestinationShared& shared_;
  DestinationConfig cfg_;  // replaced by set_timing(); read when connecting and backing off only
  ConnectionOwner& owner_;
  int fd_ = -1;
  ev_io io_{};        // writable: connect completion and socket space
  ev_io read_{};      // readable: peer close or reset
  ev_timer timer_{};  // connect timeout, then backoff delay
  bool up_ = false;
  bool draining_ = false;
  unsigned attempts_ = 0;  // failures since the last connection came up
  bool ever_connected_ = false;
  std::minstd_rand rng_;
  const std::shared_ptr<const TlsContext> tls_ctx_;  // tls@ destinations only
  std::unique_ptr<TlsSession> tls_;                  // the current connection's, from connect to loss
  bool write_wants_read_ = false;                    // a TLS write waits for the socket to be readable
  LogLimiter handshake_log_;
};

}  // namespace relay
