// config: relayd's command line, parsed with CLI11 into one plain struct.
#pragma once

#include <string>
#include <vector>

#include "background_thread.hpp"
#include "client_thread.hpp"
#include "endpoint.hpp"
#include "queue.hpp"
#include "server_thread.hpp"

namespace relay {

inline constexpr const char* kDefaultListen = "udp@127.0.0.1:2008";
inline constexpr const char* kDefaultControl = "127.0.0.1:50051";

struct Config {
  std::vector<Endpoint> listen;
  std::vector<Endpoint> destinations;
  QueueConfig queue;
  IngestConfig ingest;
  ClientConfig client;
  BackgroundConfig background;
  double drain_timeout = 5.0;             // s
  std::string control = kDefaultControl;  // empty: no control service
  std::string log_level = "info";
};

// Thrown when the command line asks relayd to exit instead of run: --help, --version (code 0)
// or a usage error (code 2, message already printed).
struct CommandLineExit {
  int code;
};

// Parses argv; prints help, version or a one-line error itself. Throws CommandLineExit.
Config parse_command_line(int argc, const char* const* argv);

}  // namespace relay
