// state_error: the state file (docs/STATE.md) cannot be read, parsed or written. The message
// names the file.
#pragma once

#include <stdexcept>

namespace relay {

class StateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace relay
