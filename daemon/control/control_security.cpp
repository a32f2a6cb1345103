#include "control_security.hpp"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <map>
#include <stdexcept>

#include "certificate_info.hpp"
#include "pem_file.hpp"
#include "thread_name.hpp"
#include "x509_issue.hpp"

namespace relay {

namespace {

constexpr auto kExpiryWarning = std::chrono::hours(24) * 30;

struct Stamp {
  bool present = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const Stamp&) const = default;
};

Stamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {true, st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
}

void check_key_pair(const ControlOptions& c) {
  const auto cert = certs::parse_cert(certs::read_small_file(c.tls_cert));
  certs::Key key;
  try {
    key = certs::parse_key(certs::read_small_file(c.tls_key));
  } catch (const std::exception& e) {
    throw std::runtime_error(c.tls_key + ": " + e.what());
  }
  if (!certs::key_matches(cert, key)) throw std::runtime_error(c.tls_key + " is not the key of " + c.tls_cert);
}

void log_certificate(const char* what, const std::string& path) {
  const auto info = certs::read_certificate_info(path);
  const auto now = std::chrono::system_clock::now();
  if (info.expired(now)) {
    spdlog::error("control: {} {} EXPIRED on {}: subject {}, issuer {}", what, path, info.not_after_text, info.subject,
                  info.issuer);
  } else if (info.not_after - now < kExpiryWarning) {
    spdlog::warn("control: {} {} expires soon, on {}: subject {}, issuer {}", what, path, info.not_after_text,
                 info.subject, info.issuer);
  } else {
    spdlog::info("control: {} {} loaded: subject {}, issuer {}, expires {}", what, path, info.subject, info.issuer,
                 info.not_after_text);
  }
}

}  // namespace

struct ControlSecurity::Watched {
  std::map<std::string, Stamp> stamps;
};

ControlSecurity::ControlSecurity(ControlOptions config)
    : config_(std::move(config)), watched_(std::make_unique<Watched>()) {
  if (config_.tls_cert.empty() != config_.tls_key.empty())
    throw std::runtime_error("--control-tls-cert and --control-tls-key go together");
  if (!config_.tls() && config_.mutual_tls())
    throw std::runtime_error("--control-tls-client-ca needs --control-tls-cert and --control-tls-key");
  if (config_.tls()) {
    check_key_pair(config_);
    certs::read_certificate_info(config_.tls_cert);  // throws naming the file if unreadable
    if (config_.mutual_tls()) certs::read_certificate_info(config_.tls_client_ca);
  }
  policy_ = std::make_shared<const AccessPolicy>(config_.token_file.empty() ? AccessPolicy::open()
                                                                            : AccessPolicy::load(config_.token_file));
  check_files(true);
  if (config_.tls() || !config_.token_file.empty()) watcher_ = std::thread([this] { watch(); });
}

ControlSecurity::~ControlSecurity() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

std::shared_ptr<grpc::ServerCredentials> ControlSecurity::server_credentials() const {
  if (!config_.tls()) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      config_.tls_key, config_.tls_cert, config_.tls_client_ca, static_cast<unsigned>(kRefresh.count()));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (config_.mutual_tls()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::variant<Identity, Refusal> ControlSecurity::authorize(const CallerFacts& caller, Role role) const {
  std::shared_ptr<const AccessPolicy> policy;
  {
    std::lock_guard lock(mu_);
    policy = policy_;
  }
  return policy->authorize(caller, role);
}

void ControlSecurity::check_now() {
  {
    std::lock_guard lock(mu_);
    check_requested_ = true;
  }
  wake_.notify_all();
}

std::uint64_t ControlSecurity::reload_failures() const {
  std::lock_guard lock(mu_);
  return reload_failures_;
}

void ControlSecurity::watch() {
  name_this_thread("relay-ctl-files");
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, kRefresh, [this] { return stop_ || check_requested_; });
    if (stop_) break;
    const bool requested = std::exchange(check_requested_, false);
    lock.unlock();
    check_files(requested);
    lock.lock();
  }
}

// Runs on the constructor's thread first, then only on the watcher: stamps need no lock.
void ControlSecurity::check_files(bool log_all) {
  auto changed = [&](const std::string& path) {
    if (path.empty()) return false;
    const Stamp now = stamp_of(path);
    Stamp& seen = watched_->stamps[path];
    const bool differs = !(now == seen);
    seen = now;
    return differs || log_all;
  };
  try {
    const bool cert_changed = changed(config_.tls_cert);
    const bool key_changed = changed(config_.tls_key);
    if (cert_changed || key_changed) {
      check_key_pair(config_);
      log_certificate("TLS certificate", config_.tls_cert);
    }
    if (changed(config_.tls_client_ca)) log_certificate("client CA", config_.tls_client_ca);
  } catch (const std::exception& e) {
    spdlog::error("control: TLS files: {} (gRPC keeps serving the last pair it could load)", e.what());
  }
  if (!changed(config_.token_file)) return;
  try {
    auto policy = std::make_shared<const AccessPolicy>(AccessPolicy::load(config_.token_file));
    spdlog::info("control: token file {} loaded: {} entries", config_.token_file, policy->entries());
    std::lock_guard lock(mu_);
    policy_ = std::move(policy);
  } catch (const std::exception& e) {
    std::lock_guard lock(mu_);
    ++reload_failures_;
    spdlog::error("control: token file refused, the previous one stays in force: {}", e.what());
  }
}

}  // namespace relay
