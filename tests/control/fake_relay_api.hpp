// fake_relay_api: a RelayApi that records what the control service asks of it and answers from
// plain fields, so the service's translation can be tested without a running relay.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <vector>

#include "relay_api.hpp"

namespace relay::test {

class FakeRelayApi final : public RelayApi {
 public:
  FakeRelayApi() {
    info_.version = "9.8.7";
    info_.uptime_seconds = 12.5;
    info_.control_address = "127.0.0.1:0";
    info_.max_queue_bytes = 256u << 20;
    info_.max_message_bytes = 65507;
    info_.max_destinations = 64;
  }

  DestinationSnapshot add_destination(const AddDestinationRequest& req, Deadline deadline) override {
    std::lock_guard lock(mu_);
    last_add_ = req;
    last_deadline_ = deadline;
    throw_if_failing();
    Endpoint ep = parse_endpoint(req.address);
    if (req.framing) ep.framing = *req.framing;
    for (const auto& d : dests_) {
      if (d.address == ep.str()) throw ApiError(ApiCode::already_exists, "already a destination: " + d.address);
    }
    DestinationSnapshot d;
    d.id = next_id_++;
    d.address = ep.str();
    d.framing = ep.framing;
    dests_.push_back(d);
    return d;
  }

  DestinationSnapshot remove_destination(const RemoveDestinationRequest& req, Deadline deadline) override {
    std::lock_guard lock(mu_);
    last_remove_ = req;
    last_deadline_ = deadline;
    throw_if_failing();
    for (auto it = dests_.begin(); it != dests_.end(); ++it) {
      if (it->id != req.id) continue;
      DestinationSnapshot gone = *it;
      dests_.erase(it);
      return gone;
    }
    throw ApiError(ApiCode::not_found, "no destination " + std::to_string(req.id));
  }

  std::vector<DestinationSnapshot> destinations() const override {
    std::lock_guard lock(mu_);
    return dests_;
  }

  StatsSnapshot stats() const override {
    std::lock_guard lock(mu_);
    ++stats_calls_;
    StatsSnapshot s = stats_;
    s.unix_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    s.destinations = dests_;
    return s;
  }

  RelayInfo info() const override {
    std::lock_guard lock(mu_);
    return info_;
  }

  // ---- test controls ----
  void fail_next(ApiError e) {
    std::lock_guard lock(mu_);
    fail_next_ = std::move(e);
  }
  void put(DestinationSnapshot d) {
    std::lock_guard lock(mu_);
    dests_.push_back(std::move(d));
  }
  void set_stats(StatsSnapshot s) {
    std::lock_guard lock(mu_);
    stats_ = std::move(s);
  }
  std::optional<AddDestinationRequest> last_add() const {
    std::lock_guard lock(mu_);
    return last_add_;
  }
  std::optional<RemoveDestinationRequest> last_remove() const {
    std::lock_guard lock(mu_);
    return last_remove_;
  }
  Deadline last_deadline() const {
    std::lock_guard lock(mu_);
    return last_deadline_;
  }
  int stats_calls() const {
    std::lock_guard lock(mu_);
    return stats_calls_;
  }

 private:
  void throw_if_failing() {
    if (!fail_next_) return;
    ApiError e = std::move(*fail_next_);
    fail_next_.reset();
    throw e;
  }

  mutable std::mutex mu_;
  std::vector<DestinationSnapshot> dests_;
  std::uint64_t next_id_ = 1;
  StatsSnapshot stats_;
  RelayInfo info_;
  std::optional<ApiError> fail_next_;
  std::optional<AddDestinationRequest> last_add_;
  std::optional<RemoveDestinationRequest> last_remove_;
  Deadline last_deadline_{};
  mutable int stats_calls_ = 0;
};

}  // namespace relay::test
