// control_fixture: a ControlServer over a FakeRelayApi on 127.0.0.1:<ephemeral>, and a client.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "control_server.hpp"
#include "fake_relay_api.hpp"
#include "relay/v1/relay.grpc.pb.h"

namespace relay::test {

class ControlFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ControlServer>(api_, "127.0.0.1:0");
    server_->start();
    target_ = "127.0.0.1:" + std::to_string(server_->port());
    channel_ = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
    stub_ = relay::v1::RelayControl::NewStub(channel_);
  }
  void TearDown() override { server_->shutdown(); }

  // Every call gets a deadline so a broken server fails the test instead of hanging it.
  static std::unique_ptr<grpc::ClientContext> ctx(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + timeout);
    return c;
  }

  FakeRelayApi api_;
  std::unique_ptr<ControlServer> server_;
  std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<relay::v1::RelayControl::Stub> stub_;
};

}  // namespace relay::test
