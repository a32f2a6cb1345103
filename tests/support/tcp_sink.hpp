// tcp_sink: a TCP destination for relayd under test.
//
// Listens on 127.0.0.1, accepts one connection at a time on its own thread (poll-based), decodes
// the stream with the given framing and records the messages (raw: the bytes). It can simulate
// the failures a real destination has: crash (abort the connection with an RST), going down
// (stop listening, so connects are refused), restarting on the same port, and being slow
// (pause reading, optionally with a small receive buffer so backpressure reaches relayd fast, or
// read at a fixed rate).
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

namespace relay::test {

class TcpSink {
 public:
  struct Options {
    Framing framing = Framing::lp32le;
    std::uint16_t port = 0;     // 0: the kernel picks; later start()s reuse it
    int rcvbuf = 0;             // SO_RCVBUF for accepted connections; 0 keeps the kernel's autotuning
    bool paused = false;        // accept but do not read until resume()
    std::size_t read_rate = 0;  // bytes per second it reads at most (a slow consumer); 0: no limit
    bool start = true;          // listen right away
  };

  explicit TcpSink(Options options);
  explicit TcpSink(Framing framing = Framing::lp32le) : TcpSink(Options{framing}) {}
  ~TcpSink();
  TcpSink(const TcpSink&) = delete;
  TcpSink& operator=(const TcpSink&) = delete;

  // Listens (SO_REUSEADDR, same port as before) and starts the accepting thread.
  void start();
  // Crash + down: aborts the connection (RST), closes the listening socket, joins the thread.
  void stop();
  // Crash of the current connection only; the sink keeps listening and accepts the next one.
  void close_connection();
  void pause();
  void resume();

  std::uint16_t port() const { return port_; }
  Framing framing() const { return framing_; }
  bool listening() const;

  std::vector<std::string> messages() const;
  std::string bytes() const;       // raw framing: everything received, concatenated
  std::size_t count() const;       // messages (raw: 0)
  std::size_t byte_count() const;  // payload bytes decoded (raw: bytes received)
  std::size_t connections() const;
  // Index in messages() of the first message of each accepted connection.
  std::vector<std::size_t> connection_starts() const;
  // Streams that lost sync (a length prefix > 1 MiB) or ended inside a frame at relayd's close.
  std::size_t framing_errors() const;
  // Partial frames thrown away by our own simulated crashes (not relayd's fault).
  std::size_t discarded_partials() const;
  // Per simulated crash: the bytes it threw away that the sink's kernel had accepted (so TCP
  // had acknowledged them to relayd) — unread in the socket, plus a partial frame decoded so far.
  std::vector<std::size_t> discarded_bytes() const;
  // Bytes the open connection's socket holds unread (SIOCINQ); 0 without a connection.
  std::size_t unread_bytes() const;

  // Waits (scaled timeout) for at least n messages / bytes; false on timeout.
  bool wait_for_count(std::size_t n, std::chrono::milliseconds timeout);
  bool wait_for_bytes(std::size_t n, std::chrono::milliseconds timeout);
  bool wait_for_connections(std::size_t n, std::chrono::milliseconds timeout);

 private:
  enum class Command { none, close_connection, stop };

  void listen_socket();
  void run();
  bool handle_wake();
  void accept_one();
  void read_some();
  int throttle_wait_ms() const;  // sink thread: ms until the next read is allowed, 0 when now
  void on_peer_closed();
  void abort_connection();
  std::size_t unread_locked() const;  // caller holds mu_
  void send_command(Command c);
  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout);

  const Framing framing_;
  const int rcvbuf_;
  const std::size_t read_rate_;
  std::chrono::steady_clock::time_point next_read_{};  // sink thread: when a throttled read may come
  std::uint16_t port_;
  UniqueFd listen_fd_;
  UniqueFd conn_fd_;
  UniqueFd wake_read_, wake_write_;
  FrameDecoder decoder_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Command command_ = Command::none;
  bool paused_;
  bool running_ = false;
  std::vector<std::string> messages_;
  std::string bytes_;
  std::size_t byte_count_ = 0;
  std::vector<std::size_t> connection_starts_;
  std::size_t framing_errors_ = 0;
  std::size_t discarded_partials_ = 0;
  std::vector<std::size_t> discarded_bytes_;
};

}  // namespace relay::test
