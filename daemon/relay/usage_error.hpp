// usage_error: what relayd was told is wrong — the command line or the config file — before
// anything starts. Exit status 2. Each fault is one line that says where it is: a file's fault
// starts "FILE:LINE:COLUMN: key: ", a command line's names the flag.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace relay {

class UsageError : public std::runtime_error {
 public:
  // `from_command_line`: the reader is pointed at relayd --help (a file's faults carry their place).
  explicit UsageError(std::vector<std::string> faults, bool from_command_line = false)
      : std::runtime_error(join(faults)), faults_(std::move(faults)), from_command_line_(from_command_line) {}
  explicit UsageError(std::string fault, bool from_command_line = false)
      : UsageError(std::vector<std::string>{std::move(fault)}, from_command_line) {}

  const std::vector<std::string>& faults() const noexcept { return faults_; }
  bool from_command_line() const noexcept { return from_command_line_; }

 private:
  static std::string join(const std::vector<std::string>& faults) {
    std::string out;
    for (const auto& f : faults) out += (out.empty() ? "" : "\n") + f;
    return out;
  }

  std::vector<std::string> faults_;
  bool from_command_line_;
};

}  // namespace relay
