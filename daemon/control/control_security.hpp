// control_security: the control plane's transport security and access policy, kept current.
//
// TLS: a server certificate and key, and optionally a client CA, which makes client certificates
// required and verified (mutual TLS). gRPC re-reads the three files every `kRefresh` (its file
// watcher certificate provider), so rotating them needs no restart; this class watches the same
// files and logs what it finds — subject, issuer, expiry — at start, on every change and on
// check_now() (SIGHUP), and warns when a certificate is expired or expires within 30 days.
//
// Access: the token file (access_policy.hpp) is re-read the same way; a file that no longer
// parses is refused whole and the policy in force stays, with one error line.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "access_policy.hpp"
#include "control_options.hpp"

namespace grpc {
class ServerContext;
}

namespace relay {

class ControlSecurity {
 public:
  static constexpr std::chrono::seconds kRefresh{2};

  // Reads and checks every file now (key matches certificate, CA and token file parse); throws
  // std::runtime_error naming the file and the fault. Starts the watcher thread.
  explicit ControlSecurity(ControlOptions config);
  ~ControlSecurity();
  ControlSecurity(const ControlSecurity&) = delete;
  ControlSecurity& operator=(const ControlSecurity&) = delete;

  const ControlOptions& config() const noexcept { return config_; }
  // Insecure credentials without TLS; otherwise TLS credentials over gRPC's file watcher.
  std::shared_ptr<grpc::ServerCredentials> server_credentials() const;

  // The caller's identity and whether it may do what needs `role`.
  std::variant<Identity, Refusal> authorize(const CallerFacts& caller, Role role) const;
  // Re-reads the files now (SIGHUP) instead of at the next tick.
  void check_now();
  // How often a changed token file was refused (it stays as before).
  std::uint64_t reload_failures() const;

 private:
  struct Watched;
  ControlOptions config_;
  mutable std::mutex mu_;  // guards policy_, stamps and the wake-up: control plane only, never the data path
  std::shared_ptr<const AccessPolicy> policy_;
  std::unique_ptr<Watched> watched_;
  std::uint64_t reload_failures_ = 0;
  bool stop_ = false;
  bool check_requested_ = false;
  std::condition_variable wake_;
  std::thread watcher_;

  void watch();
  void check_files(bool log_all);
};

}  // namespace relay
