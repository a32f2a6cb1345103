// session: relayctl's connection to relayd, shared by every command: the channel, the stubs,
// per-call deadlines, and turning a failed call into the right exit code.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>

#include "exit_code.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "relay/v1/relay.grpc.pb.h"

namespace relayctl {

inline constexpr const char* kDefaultServer = "127.0.0.1:50051";

struct GlobalOptions {
  std::string server = kDefaultServer;  // --server, or RELAYCTL_SERVER
  std::string timeout = "5s";           // --timeout: deadline of every call
  bool json = false;                    // --json
};

// A failed command: what to print on stderr and the exit code.
class CommandError : public std::runtime_error {
 public:
  CommandError(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

class Session {
 public:
  Session(GlobalOptions options, std::ostream& out);

  relay::v1::RelayControl::Stub& relay();
  grpc::health::v1::Health::Stub& health();
  // A context whose deadline is --timeout (+ `extra`, for calls that wait on purpose) from now.
  std::unique_ptr<grpc::ClientContext> context(std::chrono::milliseconds extra = {}) const;
  // Throws CommandError unless `status` is OK.
  void check(const grpc::Status& status);

  bool json() const noexcept { return options_.json; }
  std::ostream& out() noexcept { return out_; }
  const std::string& server() const noexcept { return options_.server; }

 private:
  std::shared_ptr<grpc::Channel> channel();
  bool connected();

  GlobalOptions options_;
  std::chrono::milliseconds timeout_;
  std::ostream& out_;
  // Created on first use, so that commands can set up process state (signal handlers) first.
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<relay::v1::RelayControl::Stub> relay_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace relayctl
