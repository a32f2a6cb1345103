// tcp_listener: TCP ingest, plain (tcp@) or inside TLS (tls@). Accepts connections and reads
// lp32le frames (4-byte little-endian length, then the payload); every frame becomes one queue
// message.
//
// Decoding is FrameReader's (frame_reader.hpp); this class does the sockets and the counting.
// A tls@ listener gives each connection a TlsServerSession (tls_server_session.hpp): its bytes
// come from SSL_read once the handshake is done, and everything else (limits, idle timeout, bad
// and partial frames) is the same. A failed handshake closes that connection only, counted
// (tls_handshake_failures) and logged with its reason at most once a second.
// A frame longer than --max-message-size cannot be skipped safely (the peer may be speaking
// another protocol), so it closes that connection only; every other connection carries on.
// Nothing read is lost uncounted: the bad frame and the bytes read after it are
// dropped_bad_frame_bytes, a frame cut by its connection ending is dropped_partial_frames.
// Thread: server thread, like every listener (listener.hpp).
#pragma once

#include <ev.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "frame_reader.hpp"
#include "listener.hpp"
#include "tls_server_context.hpp"

namespace relay {

class TcpListener final : public Listener {
 public:
  // Binds and listens now, after reading a tls@ listener's files; throws std::system_error
  // naming the address, or EndpointError naming a bad file.
  TcpListener(const Endpoint& ep, Queue& queue, const IngestConfig& cfg, const std::function<void()>& on_published);
  ~TcpListener() override;

  void start(struct ev_loop* loop) override;
  void stop() override;
  void retire(double grace) override;
  bool finished() const override { return retiring_ && conns_.empty(); }
  void set_limits(const IngestConfig& cfg) override;

  std::size_t connections() const noexcept { return conns_.size(); }  // server thread only

 private:
  struct Connection;
  struct Received;
  static constexpr int kMaxAcceptsPerWakeup = 64;
  static constexpr double kAcceptRetrySeconds = 0.1;  // after running out of descriptors

  void open_socket();
  static void on_accept(struct ev_loop* loop, ev_io* w, int revents);
  static void on_retry(struct ev_loop* loop, ev_timer* w, int revents);
  static void on_readable(struct ev_loop* loop, ev_io* w, int revents);
  void accept_ready();
  bool accept_one();  // false when the loop should stop accepting for now
  void pause_accepting();
  void read_ready(Connection& c);
  bool shake_hands(Connection& c);  // false while not established (or when it failed: c is gone)
  Received receive(Connection& c, std::span<std::byte> room);
  Received receive_tls(Connection& c, std::span<std::byte> room);
  void stream_ended(Connection& c, const Received& r);
  void watch(Connection& c, int events);
  bool parse_frames(Connection& c, std::int64_t now);  // false on a bad frame
  void count_bad_frame(const Connection& c, const OversizedFrame& bad, std::int64_t now);
  void drop_partial_frame(const Connection& c);
  void close_connection(Connection& c);
  void refuse(int fd, const std::string& peer);
  static void on_idle_check(struct ev_loop* loop, ev_timer* w, int revents);
  void close_idle(ev_tstamp now);
  void close_retiring(ev_tstamp now);
  void start_idle_check(double every);

  int fd_ = -1;
  struct ev_loop* loop_ = nullptr;
  ev_io accept_io_{};
  ev_timer retry_{};
  ev_timer idle_check_{};
  std::size_t max_connections_;
  double idle_timeout_;  // s; 0: never
  bool retiring_ = false;
  ev_tstamp retire_deadline_ = 0;                               // retiring: every connection still open then is closed
  const std::shared_ptr<const TlsServerContext> tls_;           // tls@ listeners only
  std::unordered_map<int, std::unique_ptr<Connection>> conns_;  // by descriptor
  LogLimiter bad_frame_log_;
  LogLimiter refused_log_;
  LogLimiter handshake_log_;
};

}  // namespace relay
