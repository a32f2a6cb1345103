#include "session.hpp"

#include "duration.hpp"
#include "status_code_name.hpp"

namespace relayctl {

Session::Session(GlobalOptions options, std::ostream& out)
    : options_(std::move(options)), timeout_(parse_duration(options_.timeout)), out_(out) {}

std::shared_ptr<grpc::Channel> Session::channel() {
  if (!channel_) channel_ = grpc::CreateChannel(options_.server, grpc::InsecureChannelCredentials());
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
  return ctx;
}

bool Session::connected() { return channel_ && channel_->GetState(false) == GRPC_CHANNEL_READY; }

void Session::check(const grpc::Status& status) {
  if (status.ok()) return;
  const auto code = status.error_code();
  // A deadline that expired before a connection existed means nobody answered, not a refusal.
  if (code == grpc::StatusCode::UNAVAILABLE || (code == grpc::StatusCode::DEADLINE_EXCEEDED && !connected())) {
    throw CommandError(kExitUnreachable, "cannot reach relayd at " + options_.server + ": " + status.error_message());
  }
  throw CommandError(kExitRefused, std::string(relay::status_code_name(code)) + ": " + status.error_message());
}

}  // namespace relayctl
