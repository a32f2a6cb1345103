// tls_sink: a TLS destination for relayd under test — an OpenSSL server on 127.0.0.1:0.
//
// Accepts one connection at a time on its own thread (poll-based, non-blocking OpenSSL), shakes
// hands with the given certificate, optionally requires and verifies a client certificate, then
// decodes the stream with the given framing and records the messages (raw: the bytes) and the
// bytes of each connection. close_connection() aborts the current connection (RST), as a
// crashing destination would; the sink keeps listening.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "frame_decoder.hpp"
#include "framing.hpp"
#include "unique_fd.hpp"

struct ssl_ctx_st;
struct ssl_st;

namespace relay::test {

class TlsSink {
 public:
  struct Options {
    Framing framing = Framing::lp32le;
    std::string cert_pem;       // the server's certificate (then any intermediates)
    std::string key_pem;        // its key
    std::string client_ca_pem;  // non-empty: a client certificate signed by this CA is required
    int rcvbuf = 0;             // SO_RCVBUF for accepted connections (small: backpressure comes fast)
  };
  explicit TlsSink(Options options);
  ~TlsSink();
  TlsSink(const TlsSink&) = delete;
  TlsSink& operator=(const TlsSink&) = delete;

  std::uint16_t port() const { return port_; }
  // Aborts the current connection (RST); returns once it is gone.
  void close_connection();
  // Stops reading established sessions (a stalled destination) / reads again.
  void pause();
  void resume();

  std::vector<std::string> messages() const;
  std::string last_message() const;  // "" when none yet
  std::string bytes() const;         // raw framing: everything received, concatenated
  std::size_t count() const;
  std::size_t connections() const;  // TLS sessions established
  std::size_t handshake_failures() const;
  std::size_t clean_ends() const;                      // sessions the peer ended with close_notify
  std::vector<std::size_t> connection_starts() const;  // index of each session's first message
  std::vector<std::size_t> connection_bytes() const;   // plaintext bytes of each session
  std::vector<std::string> client_subjects() const;    // each session's client certificate subject ("" if none)
  std::size_t framing_errors() const;                  // lost sync, or relayd closed inside a frame
  std::size_t discarded_partials() const;              // partial frames our own aborts threw away

  bool wait_for_count(std::size_t n, std::chrono::milliseconds timeout);
  bool wait_for_connections(std::size_t n, std::chrono::milliseconds timeout);
  bool wait_for_handshake_failures(std::size_t n, std::chrono::milliseconds timeout);

 private:
  void run();
  bool handle_wake();
  void accept_one();
  void shake_hands();
  void read_records();
  void end_session();
  void abort_connection();
  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout);

  const Framing framing_;
  const int rcvbuf_;
  ssl_ctx_st* ctx_ = nullptr;
  std::uint16_t port_ = 0;
  UniqueFd listen_fd_;
  UniqueFd wake_read_, wake_write_;
  std::thread thread_;
  // Sink thread only.
  UniqueFd conn_fd_;
  ssl_st* ssl_ = nullptr;
  bool established_ = false;
  bool want_write_ = false;
  FrameDecoder decoder_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool close_requested_ = false;
  bool stop_requested_ = false;
  bool paused_ = false;
  std::vector<std::string> messages_;
  std::string bytes_;
  std::vector<std::size_t> connection_starts_;
  std::vector<std::size_t> connection_bytes_;
  std::vector<std::string> client_subjects_;
  std::size_t handshake_failures_ = 0;
  std::size_t clean_ends_ = 0;
  std::size_t framing_errors_ = 0;
  std::size_t discarded_partials_ = 0;
};

}  // namespace relay::test
