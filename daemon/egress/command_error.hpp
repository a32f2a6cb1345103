// command_error: why the client thread refused, or could not finish, a destination command.
// The relay layer turns these into API errors; egress knows nothing of the API's fields.
#pragma once

#include <stdexcept>
#include <string>

namespace relay {

enum class CommandFailure {
  duplicate,      // a destination with that host and port exists
  unknown_id,     // no destination with that id (or it is already being removed)
  limit_reached,  // --max-destinations destinations exist
  shutting_down,  // relayd is stopping
  timed_out,      // the caller's deadline passed first
};

class CommandError : public std::runtime_error {
 public:
  CommandError(CommandFailure failure, const std::string& message) : std::runtime_error(message), failure_(failure) {}
  CommandFailure failure() const noexcept { return failure_; }

 private:
  CommandFailure failure_;
};

}  // namespace relay
