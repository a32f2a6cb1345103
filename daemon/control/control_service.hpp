// control_service: the relay.v1.RelayControl gRPC service, a thin translation of RelayApi.
//
// It checks who the caller is and whether its role allows the call (access_policy.hpp), validates
// request fields, converts proto ↔ core, passes the call's deadline on, maps ApiError codes to
// gRPC status codes, and writes the audit line of every change, allowed or not. It holds no relay state of its own:
// everything comes from the RelayApi, which must outlive it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "control_security.hpp"
#include "relay/v1/relay.grpc.pb.h"
#include "relay_api.hpp"

namespace relay {

class ControlService final : public relay::v1::RelayControl::Service {
 public:
  // WatchStats: the default, smallest and poll granularity, and how many may run at once
  // (each holds one of gRPC's sync-server threads).
  static constexpr std::chrono::milliseconds kDefaultWatchInterval{1000};
  static constexpr std::chrono::milliseconds kMinWatchInterval{100};
  static constexpr int kMaxWatchers = 32;
  // Deadline passed to RelayApi when the client set none.
  static constexpr std::chrono::seconds kDefaultDeadline{30};

  // Without `security` every caller is admin (tests, and relayd before it had access control).
  explicit ControlService(RelayApi& api, const ControlSecurity* security = nullptr) : api_(api), security_(security) {}

  // Ends every WatchStats stream (with UNAVAILABLE) within one poll interval and refuses new
  // ones, so that grpc::Server::Shutdown does not wait on them. Idempotent, thread-safe.
  void shutdown() noexcept;

  grpc::Status AddDestination(grpc::ServerContext* ctx, const relay::v1::AddDestinationRequest* req,
                              relay::v1::Destination* resp) override;
  grpc::Status RemoveDestination(grpc::ServerContext* ctx, const relay::v1::RemoveDestinationRequest* req,
                                 relay::v1::Destination* resp) override;
  grpc::Status ListDestinations(grpc::ServerContext* ctx, const relay::v1::ListDestinationsRequest* req,
                                relay::v1::ListDestinationsResponse* resp) override;
  grpc::Status GetDestination(grpc::ServerContext* ctx, const relay::v1::GetDestinationRequest* req,
                              relay::v1::Destination* resp) override;
  grpc::Status GetStats(grpc::ServerContext* ctx, const relay::v1::GetStatsRequest* req,
                        relay::v1::Stats* resp) override;
  grpc::Status WatchStats(grpc::ServerContext* ctx, const relay::v1::WatchStatsRequest* req,
                          grpc::ServerWriter<relay::v1::Stats>* writer) override;
  grpc::Status GetInfo(grpc::ServerContext* ctx, const relay::v1::GetInfoRequest* req, relay::v1::Info* resp) override;
  grpc::Status Reload(grpc::ServerContext* ctx, const relay::v1::ReloadRequest* req,
                      relay::v1::ReloadResponse* resp) override;

 private:
  void stream_stats(grpc::ServerContext& ctx, std::chrono::milliseconds interval,
                    grpc::ServerWriter<relay::v1::Stats>& writer);
  // Sleeps until `until`; false when the call was cancelled or the service is shutting down.
  bool wait_until(grpc::ServerContext& ctx, std::chrono::steady_clock::time_point until);
  bool stopping() const;

  template <typename Body>
  grpc::Status run(const grpc::ServerContext& ctx, std::string_view method, Role role, Body&& body,
                   const std::string& what = {}, const relay::v1::Destination* changed = nullptr);

  RelayApi& api_;
  const ControlSecurity* security_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;         // guarded by mu_
  std::atomic<int> watchers_{0};  // WatchStats calls in progress
};

}  // namespace relay
