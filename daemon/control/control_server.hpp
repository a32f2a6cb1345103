// control_server: the gRPC server relayd's control plane runs in.
//
// Owns the grpc::Server (and its threads) serving relay.v1.RelayControl, the standard health
// service (grpc.health.v1.Health, "" and "relay.v1.RelayControl") and server reflection.
// Address forms: "127.0.0.1:50051", "[::1]:50051", "unix:/path". There is no authentication:
// anyone who can connect can add and remove destinations, so keep it on loopback or a unix
// socket whose directory only the right users can reach.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "control_service.hpp"
#include "relay_api.hpp"

namespace grpc {
class Server;
}

namespace relay {

class ControlServer {
 public:
  static constexpr std::chrono::milliseconds kDefaultGrace{2000};
  static constexpr int kMaxRequestBytes = 16 * 1024;  // the largest request message accepted

  // Does not listen yet. `api` must outlive this object.
  ControlServer(RelayApi& api, std::string address);
  ~ControlServer();  // shutdown() if still running
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds and starts serving on gRPC's threads. Throws std::runtime_error naming the address
  // when it cannot listen ("cannot listen for control on 127.0.0.1:50051: address in use?").
  void start();
  // Reports NOT_SERVING, ends WatchStats streams, then waits up to `grace` for calls in flight
  // before cancelling them. Idempotent; the server cannot be started again afterwards.
  void shutdown(std::chrono::milliseconds grace = kDefaultGrace);

  // The address as configured.
  const std::string& address() const noexcept { return address_; }
  // The TCP port bound (useful with port 0); 0 for unix sockets or before start().
  int port() const noexcept { return port_; }

 private:
  std::string address_;
  ControlService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace relay
