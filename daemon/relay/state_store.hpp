// state_store: the state directory (--state-dir, docs/STATE.md) and its one state file,
// written so a crash at any instant leaves the old state or the new one, never a torn file:
// a temporary file in the directory, fsync, rename over the state file, fsync the directory.
// An exclusive lock on the directory keeps a second relayd from sharing it.
// Thread: any, one call at a time (the relay serialises API changes).
#pragma once

#include <string>

#include "runtime_state.hpp"

namespace relay {

class StateStore {
 public:
  inline static constexpr const char* kFileName = "destinations.state";
  inline static constexpr const char* kTempName = "destinations.state.tmp";
  inline static constexpr const char* kLockName = "lock";

  // Creates the directory (mode 0700) when missing and locks it. Throws StateError.
  explicit StateStore(std::string dir);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // The state written last: empty when there is no state file yet. A temporary file left by a
  // crash mid-write is removed (it never replaced the state file). Throws StateError when the
  // file cannot be read or is damaged.
  RuntimeState load();
  // Replaces the state file, durably, before returning. Throws StateError (with errno's reason).
  void save(const RuntimeState& state);
  // Deletes the state file (--reset-state): returns whether there was one. Throws StateError.
  bool reset();

  const std::string& file() const noexcept { return file_; }

 private:
  std::string dir_;
  std::string file_;
  std::string temp_;
  int lock_fd_ = -1;  // holds the flock while open
};

}  // namespace relay
