#include "session.hpp"

#include <fstream>
#include <sstream>

#include "duration.hpp"
#include "status_code_name.hpp"

namespace relayctl {

namespace {

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf())) throw CommandError(kExitUsage, std::string("cannot read ") + what + " " + path);
  return text.str();
}

std::string read_token(const std::string& path) {
  if (path.empty()) return {};
  std::istringstream lines(read_file(path, "--token-file"));
  std::string token;
  std::getline(lines, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) token.pop_back();
  if (token.empty()) throw CommandError(kExitUsage, "--token-file " + path + ": the first line holds no token");
  return token;
}

// gRPC reports a failed handshake inside UNAVAILABLE's long text; say it in words an operator
// can act on.
std::string tls_failure(const std::string& message) {
  if (message.find("CERTIFICATE_VERIFY_FAILED") != std::string::npos ||
      message.find("certificate verify failed") != std::string::npos)
    return "relayd's certificate did not verify (is --tls-ca the CA that signed it, is it still valid?)";
  if (message.find("Peer name") != std::string::npos || message.find("peer name") != std::string::npos ||
      message.find("hostname") != std::string::npos)
    return "relayd's certificate is not for this host name (see --tls-server-name)";
  if (message.find("WRONG_VERSION_NUMBER") != std::string::npos)
    return "relayd did not answer in TLS (is its control port plaintext? then drop the --tls-* options)";
  if (message.find("CERTIFICATE_REQUIRED") != std::string::npos ||
      message.find("HANDSHAKE_FAILURE") != std::string::npos || message.find("SSLV3_ALERT") != std::string::npos ||
      message.find("TLSV13_ALERT") != std::string::npos || message.find("TLSV1_ALERT") != std::string::npos)
    return "relayd refused the handshake (it requires a client certificate its CA signed: --tls-cert, --tls-key)";
  if (message.find("Socket closed") != std::string::npos)
    return "relayd closed the connection (does it require a client certificate? --tls-cert, --tls-key; or is "
           "its control port plaintext?)";
  return {};
}

bool handshake_failed(const std::string& message) {
  return message.find("andshake") != std::string::npos || message.find("SSL_ERROR") != std::string::npos ||
         message.find("Peer name") != std::string::npos || message.find("ssl") != std::string::npos ||
         message.find("Socket closed") != std::string::npos;
}

}  // namespace

Session::Session(GlobalOptions options, std::ostream& out)
    : options_(std::move(options)),
      timeout_(parse_duration(options_.timeout)),
      token_(read_token(options_.token_file)),
      out_(out) {}

std::shared_ptr<grpc::ChannelCredentials> Session::credentials() const {
  if (options_.tls_cert.empty() != options_.tls_key.empty())
    throw CommandError(kExitUsage, "--tls-cert and --tls-key go together");
  if (!options_.tls() && options_.tls_key.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!options_.tls_ca.empty()) ssl.pem_root_certs = read_file(options_.tls_ca, "--tls-ca");
  if (!options_.tls_cert.empty()) {
    ssl.pem_cert_chain = read_file(options_.tls_cert, "--tls-cert");
    ssl.pem_private_key = read_file(options_.tls_key, "--tls-key");
  }
  return grpc::SslCredentials(ssl);
}

std::shared_ptr<grpc::Channel> Session::channel() {
  if (channel_) return channel_;
  grpc::ChannelArguments args;
  if (!options_.tls_server_name.empty()) args.SetSslTargetNameOverride(options_.tls_server_name);
  channel_ = grpc::CreateCustomChannel(options_.server, credentials(), args);
  return channel_;
}

relay::v1::RelayControl::Stub& Session::relay() {
  if (!relay_) relay_ = relay::v1::RelayControl::NewStub(channel());
  return *relay_;
}

grpc::health::v1::Health::Stub& Session::health() {
  if (!health_) health_ = grpc::health::v1::Health::NewStub(channel());
  return *health_;
}

std::unique_ptr<grpc::ClientContext> Session::context(std::chrono::milliseconds extra) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout_ + extra);
  // As metadata rather than call credentials: gRPC sends those only over TLS, and a token is
  // also how a loopback caller gets its role.
  if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
  return ctx;
}

bool Session::connected() { return channel_ && channel_->GetState(false) == GRPC_CHANNEL_READY; }

void Session::check(const grpc::Status& status) {
  if (status.ok()) return;
  const auto code = status.error_code();
  const std::string& message = status.error_message();
  if (code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED)
    throw CommandError(kExitDenied, std::string(relay::status_code_name(code)) + ": " + message);
  if (code == grpc::StatusCode::UNAVAILABLE && options_.tls() && handshake_failed(message)) {
    const std::string why = tls_failure(message);
    throw CommandError(kExitUnreachable,
                       "TLS handshake with relayd at " + options_.server + " failed: " + (why.empty() ? message : why));
  }
  // A deadline that expired before a connection existed means nobody answered, not a refusal.
  if (code == grpc::StatusCode::UNAVAILABLE || (code == grpc::StatusCode::DEADLINE_EXCEEDED && !connected())) {
    const bool plaintext_to_tls =
        !options_.tls() && code == grpc::StatusCode::UNAVAILABLE &&
        (message.find("Socket closed") != std::string::npos || message.find("Connection reset") != std::string::npos);
    throw CommandError(kExitUnreachable,
                       "cannot reach relayd at " + options_.server + ": " + message +
                           (plaintext_to_tls ? " (does its control port require TLS? see --tls-ca)" : ""));
  }
  throw CommandError(kExitRefused, std::string(relay::status_code_name(code)) + ": " + message);
}

}  // namespace relayctl
