// control_server_test: binding (taken port, unix socket), health service, shutdown.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "control_fixture.hpp"
#include "grpc/health/v1/health.grpc.pb.h"

namespace relay::test {
namespace {

namespace pb = relay::v1;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// A listening TCP socket on 127.0.0.1:<ephemeral>, to make a port "taken".
class TakenPort {
 public:
  TakenPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 1) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "cannot set up a listening socket";
    }
    port_ = ntohs(a.sin_port);
  }
  ~TakenPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TEST(ControlServer, TakenPortFailsWithAClearMessage) {
  FakeRelayApi api;
  TakenPort taken;
  const std::string address = "127.0.0.1:" + std::to_string(taken.port());
  ControlServer server(api, address);
  try {
    server.start();
    FAIL() << "started on a taken port";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot listen for control on " + address + ": address in use?");
  }
}

TEST(ControlServer, SecondServerOnTheSamePortFails) {
  FakeRelayApi api;
  ControlServer first(api, "127.0.0.1:0");
  first.start();
  ControlServer second(api, "127.0.0.1:" + std::to_string(first.port()));
  EXPECT_THROW(second.start(), std::runtime_error);  // no silent SO_REUSEPORT sharing
}

TEST(ControlServer, ServesOnAUnixSocket) {
  const auto dir = std::filesystem::temp_directory_path() / ("relay_control_test." + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string address = "unix:" + (dir / "control.sock").string();
  FakeRelayApi api;
  ControlServer server(api, address);
  server.start();
  auto stub = pb::RelayControl::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  pb::Info info;
  const auto s = stub->GetInfo(&ctx, {}, &info);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(info.version(), "9.8.7");
  server.shutdown();
  std::filesystem::remove_all(dir);
}

TEST(ControlServer, UnixSocketInAMissingDirectoryFails) {
  FakeRelayApi api;
  ControlServer server(api, "unix:/nonexistent/relay/control.sock");
  try {
    server.start();
    FAIL() << "started";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(
        std::string(e.what()).starts_with("cannot listen for control on unix:/nonexistent/relay/control.sock: "))
        << e.what();
  }
}

// GetInfo over a fresh channel to `target`; the status says whether anyone served it.
grpc::Status get_info(const std::string& target) {
  auto stub = pb::RelayControl::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  pb::Info info;
  return stub->GetInfo(&ctx, {}, &info);
}

TEST(ControlServer, ShutdownIsIdempotentAndDestructorSafe) {
  FakeRelayApi api;
  std::string target;
  {
    ControlServer server(api, "127.0.0.1:0");
    server.start();
    target = "127.0.0.1:" + std::to_string(server.port());
    const grpc::Status before = get_info(target);
    ASSERT_TRUE(before.ok()) << before.error_message();
    server.shutdown();
    EXPECT_EQ(get_info(target).error_code(), grpc::StatusCode::UNAVAILABLE) << "still serving after shutdown()";
    EXPECT_NO_THROW(server.shutdown());
    EXPECT_EQ(get_info(target).error_code(), grpc::StatusCode::UNAVAILABLE);
  }  // the destructor after shutdown() must not shut down again (or crash)
  EXPECT_EQ(get_info(target).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(ControlServer, DestructorShutsDownARunningServer) {
  FakeRelayApi api;
  std::string target;
  {
    ControlServer server(api, "127.0.0.1:0");
    server.start();
    target = "127.0.0.1:" + std::to_string(server.port());
    ASSERT_TRUE(get_info(target).ok());
  }
  EXPECT_EQ(get_info(target).error_code(), grpc::StatusCode::UNAVAILABLE) << "the destroyed server still serves";
}

class HealthTest : public ControlFixture {
 protected:
  HealthCheckResponse::ServingStatus check(const std::string& service, grpc::Status* status = nullptr) {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse resp;
    const auto s = stub->Check(ctx().get(), req, &resp);
    if (status) *status = s;
    return resp.status();
  }
};

TEST_F(HealthTest, ServingForRelaydAndTheControlService) {
  EXPECT_EQ(check(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(check("relay.v1.RelayControl"), HealthCheckResponse::SERVING);
  grpc::Status s;
  check("no.such.Service", &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace relay::test
