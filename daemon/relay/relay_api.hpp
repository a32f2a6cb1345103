// relay_api: what a running relay offers its control plane. The gRPC control service is a thin
// translation of this interface; the relay core implements it. Every call is thread-safe and
// may block the calling (RPC) thread until the client thread has applied a change, never the
// data path.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "clock.hpp"
#include "endpoint.hpp"
#include "reload_plan.hpp"
#include "snapshot.hpp"
#include "start_at.hpp"

namespace relay {

// internal: relayd could not do its own part (the state file could not be written).
// failed_precondition: relayd cannot do it in its present state (a reload of a faulty file).
enum class ApiCode {
  invalid_argument,
  already_exists,
  not_found,
  resource_exhausted,
  deadline_exceeded,
  unavailable,
  internal,
  failed_precondition
};

// A refused request. `field` names the offending request field when there is one.
class ApiError : public std::runtime_error {
 public:
  ApiError(ApiCode code, std::string message, std::string field = {})
      : std::runtime_error(std::move(message)), code_(code), field_(std::move(field)) {}
  ApiCode code() const noexcept { return code_; }
  const std::string& field() const noexcept { return field_; }

 private:
  ApiCode code_;
  std::string field_;
};

struct AddDestinationRequest {
  std::string address;             // "tcp@host:port" with optional "?framing=F"
  std::optional<Framing> framing;  // overrides the address's framing when set
  StartAt start = StartAt::tail;
  std::optional<std::uint64_t> replaces = std::nullopt;  // a destination it takes over from, at its cursor
};

struct RemoveDestinationRequest {
  std::uint64_t id = 0;
  bool drain = false;  // flush what is queued for it first
  std::chrono::milliseconds drain_timeout{5000};
};

class RelayApi {
 public:
  virtual ~RelayApi() = default;
  // Returns once the client thread has the destination. Throws ApiError.
  virtual DestinationSnapshot add_destination(const AddDestinationRequest& req, Deadline deadline) = 0;
  // Returns the destination's final snapshot once it is gone. Throws ApiError.
  virtual DestinationSnapshot remove_destination(const RemoveDestinationRequest& req, Deadline deadline) = 0;
  virtual std::vector<DestinationSnapshot> destinations() const = 0;
  virtual StatsSnapshot stats() const = 0;
  virtual RelayInfo info() const = 0;
  // Reads the config file again and applies it (reload_plan.hpp). Throws ApiError
  // (failed_precondition) when this relay cannot reload.
  virtual ReloadReport reload_configuration() {
    throw ApiError(ApiCode::failed_precondition, "this relay cannot reload its configuration");
  }
};

}  // namespace relay
