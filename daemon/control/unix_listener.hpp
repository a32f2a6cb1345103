// unix_listener: relayd's own listening socket for a unix: control address, so that each
// caller's uid can be read (SO_PEERCRED) before the connection is handed to gRPC.
//
// gRPC's own unix listener gives a call nothing but "unix:" as its peer. Here the socket is
// created, given its mode and group, and only then listens; the path is claimed by hard-linking
// the listening socket's private name to it (link() fails if the path exists, so a live relayd's
// socket is never taken, and the path appears only once something accepts on it). An accept
// thread takes each connection, records its credentials (unix_peer.hpp) and hands the
// descriptor to the gRPC server (grpc::AddInsecureChannelFromFd), which owns it from then on.
//
// Accept failures (EMFILE: no descriptor free) are counted and logged at most once a second;
// accepting pauses kAcceptRetry and resumes by itself, so no rebuild is needed on this path.
// stop() wakes the thread at once (an eventfd), so shutdown never waits for a connection.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "control_options.hpp"
#include "log_limiter.hpp"

namespace grpc {
class Server;
}

namespace relay {

class UnixListener {
 public:
  static constexpr std::chrono::milliseconds kAcceptRetry{100};  // after running out of descriptors

  // Listens on `path` (the address `address` names, for messages). Throws std::runtime_error
  // "another relayd is serving control on ADDRESS" when the path exists, and "cannot listen for
  // control on ADDRESS: reason" for any other fault. The caller removes a stale socket first.
  UnixListener(std::string address, std::string path, const ControlOptions& options);
  ~UnixListener();  // stop(), close, and remove the path while it is still ours
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

  // Starts handing connections to `server` (started, and alive until stop() returns).
  void start(grpc::Server& server);
  // Stops accepting and joins the thread; connections already handed over stay gRPC's. Idempotent.
  void stop();

  const std::string& path() const noexcept { return path_; }
  std::uint64_t accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }
  std::uint64_t accept_failures() const noexcept { return accept_failures_.load(std::memory_order_relaxed); }

 private:
  void run(grpc::Server& server);
  bool accept_one(grpc::Server& server);  // false: nothing more to accept now
  void accept_failed(int err);
  bool wait_stop(std::chrono::milliseconds timeout);  // true when stop() was asked
  void release_path();

  std::string address_;
  std::string path_;
  int fd_ = -1;    // the listening socket
  int wake_ = -1;  // eventfd: stop() writes it
  dev_t dev_ = 0;  // the socket file claimed at path_, to remove it only while ours
  ino_t ino_ = 0;
  std::thread thread_;
  LogLimiter failure_log_;  // accept thread only
  // Counts written by the accept thread, read by anyone: plain figures, they publish nothing.
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> accept_failures_{0};
};

}  // namespace relay
