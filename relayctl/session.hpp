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
  // TLS to relayd: any of these turns it on (RELAYCTL_TLS_CA, ..._CERT, ..._KEY, ..._SERVER_NAME).
  std::string tls_ca;           // PEM CA bundle that signed relayd's certificate (default: the system's)
  std::string tls_cert;         // client certificate chain, for mutual TLS
  std::string tls_key;          // its private key
  std::string tls_server_name;  // the name to check relayd's certificate against, if not --server's host
  std::string token_file;       // a file whose first line is a bearer token (RELAYCTL_TOKEN_FILE)
  // A fleet (fleet.hpp): --server may list several targets; --fleet FILE names more;
  // --each-address expands names into every address they resolve to.
  std::string fleet_file;
  bool each_address = false;
  bool server_given = false;  // --server or RELAYCTL_SERVER was given (not the default)
  bool tls() const noexcept { return !tls_ca.empty() || !tls_cert.empty() || !tls_server_name.empty(); }
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
  std::shared_ptr<grpc::ChannelCredentials> credentials() const;
  bool connected();

  GlobalOptions options_;
  std::chrono::milliseconds timeout_;
  std::string token_;  // read from token_file at start: a bad file is an error before any call
  std::ostream& out_;
  // Created on first use, so that commands can set up process state (signal handlers) first.
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<relay::v1::RelayControl::Stub> relay_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace relayctl
