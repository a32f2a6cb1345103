// reloader: what SIGHUP does to the configuration. It reads the config file again with relayd's
// own command line over it (read_configuration, as at start-up), rejects it whole on any fault
// — the running configuration stays — and otherwise applies the difference (Relay::reload),
// logging what changed, what failed and what waits for a restart. Main thread.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "relay.hpp"

namespace relay {

class Reloader {
 public:
  // `argv`: relayd's own, so flags keep overriding the file as they did at start-up.
  Reloader(Relay& relay, int argc, const char* const* argv, std::string config_file);

  // Any thread (SIGHUP on the main thread, the Reload RPC on a gRPC thread): one at a time.
  ReloadReport reload();

 private:
  void log(const ReloadReport& r) const;

  Relay& relay_;
  std::vector<std::string> args_;
  std::string config_file_;
  std::mutex mu_;  // one reload at a time, its log lines together
};

}  // namespace relay
