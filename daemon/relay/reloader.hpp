// reloader: what SIGHUP does to the configuration. It reads the config file again with relayd's
// own command line over it (read_configuration, as at start-up), rejects it whole on any fault
// — the running configuration stays — and otherwise applies the difference (Relay::reload),
// logging what changed, what failed and what waits for a restart. Main thread.
#pragma once

#include <string>
#include <vector>

#include "relay.hpp"

namespace relay {

struct ReloadReport {
  bool accepted = false;
  std::vector<std::string> errors;  // the file's faults when it was rejected
  ReloadOutcome outcome;            // when accepted
};

class Reloader {
 public:
  // `argv`: relayd's own, so flags keep overriding the file as they did at start-up.
  Reloader(Relay& relay, int argc, const char* const* argv, std::string config_file);

  ReloadReport reload();

 private:
  void log(const ReloadReport& r) const;

  Relay& relay_;
  std::vector<std::string> args_;
  std::string config_file_;
};

}  // namespace relay
