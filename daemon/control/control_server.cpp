#include "control_server.hpp"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <stdexcept>

namespace relay {

namespace {

constexpr const char* kServiceName = "relay.v1.RelayControl";

bool is_unix(const std::string& address) { return address.starts_with("unix:"); }

[[noreturn]] void cannot_listen(const std::string& address) {
  const char* why =
      is_unix(address) ? "cannot bind the socket (does its directory exist and is it writable?)" : "address in use?";
  throw std::runtime_error("cannot listen for control on " + address + ": " + why);
}

// Both are process-wide and must be set before a ServerBuilder is created; once is enough.
void enable_plugins() {
  static std::once_flag once;
  std::call_once(once, [] {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  });
}

void set_serving(grpc::Server& server, bool serving) {
  if (auto* health = server.GetHealthCheckService()) {
    health->SetServingStatus("", serving);
    health->SetServingStatus(kServiceName, serving);
  }
}

}  // namespace

ControlServer::ControlServer(RelayApi& api, std::string address) : address_(std::move(address)), service_(api) {}

ControlServer::~ControlServer() { shutdown(); }

void ControlServer::start() {
  if (server_) return;
  if (address_.empty()) throw std::runtime_error("control address is empty");
  enable_plugins();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second relayd bind the same port and
  // silently share (or steal) control calls; a taken port must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int selected = 0;
  builder.AddListeningPort(address_, grpc::InsecureServerCredentials(), &selected);
  // No request of the API needs more than a few hundred bytes (an address is at most 512): a
  // bigger one is refused by gRPC before any of it is parsed, logged or echoed.
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  // A failed bind shows as a null server or, for TCP, a selected port of 0.
  if (!server_ || (!is_unix(address_) && selected == 0)) {
    if (server_) server_->Shutdown();
    server_.reset();
    cannot_listen(address_);
  }
  port_ = selected;
  set_serving(*server_, true);
  // Port 0 (tests) asks the kernel for one: say which.
  if (!is_unix(address_) && address_.ends_with(":0")) {
    spdlog::info("control: listening on {} (port {})", address_, port_);
  } else {
    spdlog::info("control: listening on {}", address_);
  }
}

void ControlServer::shutdown(std::chrono::milliseconds grace) {
  if (!server_) return;
  set_serving(*server_, false);
  service_.shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
  spdlog::info("control: stopped");
}

}  // namespace relay
