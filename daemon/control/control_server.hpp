// control_server: the gRPC server relayd's control plane runs in.
//
// Owns the grpc::Server (and its threads) serving relay.v1.RelayControl, the standard health
// service (grpc.health.v1.Health, "" and "relay.v1.RelayControl") and server reflection.
// Address forms: "127.0.0.1:50051", "[::1]:50051", "unix:/path". Transport security (TLS,
// mutual TLS) and who may call what come from ControlSecurity (docs/SECURITY.md); a unix socket
// gets ControlOptions' mode (0600 unless told otherwise) and group before anyone can connect.
//
// Two things gRPC does not do by itself are done here (issue #9):
//  - a unix socket path is claimed, not taken: if a live server answers on it, start() refuses;
//    a stale socket file is replaced; at exit the path is removed only while it is still ours.
//    relayd accepts on it itself (UnixListener), so each caller's uid is known (issue #10).
//  - gRPC stops accepting for good after one accept() failure (EMFILE: no descriptor free). A
//    watchdog thread connects to a TCP control address every kProbeInterval; when the server
//    stops answering (twice in a row) it is rebuilt on the same address, logged and counted.
//    On a TLS port it watches gRPC's "Failed accept4" log line instead (grpc_log.hpp).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "control_options.hpp"
#include "control_security.hpp"
#include "control_service.hpp"
#include "relay_api.hpp"
#include "unix_listener.hpp"

namespace relay {

class ControlServer {
 public:
  static constexpr std::chrono::milliseconds kDefaultGrace{2000};
  static constexpr int kMaxRequestBytes = 16 * 1024;  // the largest request message accepted
  // The watchdog's period, and how long a connection may wait for the server's first bytes.
  static constexpr std::chrono::milliseconds kProbeInterval{1000};
  static constexpr std::chrono::milliseconds kProbeTimeout{1500};
  // Calls in flight when the server is rebuilt get this long to finish.
  static constexpr std::chrono::milliseconds kRestartGrace{500};

  // Does not listen yet. `api` (and `security`, if given) must outlive this object. Without
  // `security`: plaintext, open to whoever connects, unix sockets mode 0600.
  ControlServer(RelayApi& api, std::string address, const ControlSecurity* security = nullptr);
  ~ControlServer();  // shutdown() if still running
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds and starts serving on gRPC's threads, and starts the watchdog. Throws
  // std::runtime_error naming the address when it cannot listen ("cannot listen for control on
  // 127.0.0.1:50051: address in use?", "another relayd is serving control on unix:/path").
  void start();
  // Reports NOT_SERVING, ends WatchStats streams, then waits up to `grace` for relay.v1 calls in
  // flight before cancelling them; idle connections, health and reflection streams do not hold
  // it. Idempotent; the server cannot be started again afterwards.
  void shutdown(std::chrono::milliseconds grace = kDefaultGrace);

  // The address as configured.
  const std::string& address() const noexcept { return address_; }
  // The TCP port bound (useful with port 0); 0 for unix sockets or before start().
  int port() const noexcept { return port_; }
  // Times the watchdog rebuilt the server.
  std::uint64_t restarts() const noexcept { return restarts_.load(std::memory_order_relaxed); }

 private:
  struct Instance;  // one grpc::Server with its service and its count of relay calls

  std::unique_ptr<Instance> listen_tcp(const std::string& address);
  std::unique_ptr<Instance> listen_unix();
  void watch();
  bool serving_probe_fails();
  void restart();
  std::string shown() const;  // the address with the bound port (for log lines)
  bool tls() const noexcept;  // this server speaks TLS

  RelayApi& api_;
  std::string address_;
  const ControlSecurity* security_;
  ControlOptions options_;
  int port_ = 0;
  std::unique_ptr<UnixListener> unix_;  // a unix: address's socket, once the path is ours

  std::mutex mu_;  // guards instance_ and stopping_ between shutdown() and the watchdog
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::unique_ptr<Instance> instance_;
  std::thread watchdog_;
  // Written by the watchdog, read by anyone: a plain count, no data is published through it.
  std::atomic<std::uint64_t> restarts_{0};
  // Set by shutdown() so that a probe in progress gives up at once; relaxed: it orders nothing,
  // mu_ and the join publish the rest.
  std::atomic<bool> stop_probe_{false};
};

}  // namespace relay
