// relay_config: everything one running relay is told at start-up, as one plain struct
// (filled by command_line.hpp from the command line and the config file), so a reload can read
// the file again into another one and compare.
#pragma once

#include <string>
#include <vector>

#include "background_config.hpp"
#include "control_options.hpp"
#include "egress_config.hpp"
#include "endpoint.hpp"
#include "ingest_config.hpp"
#include "queue_config.hpp"

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
  ControlOptions control_options;
  std::string log_level = "info";
  std::string metrics;       // HOST:PORT serving GET /metrics (docs/METRICS.md); empty: off
  std::string config_file;   // absolute path of --config/--check-config; empty: none
  std::string state_dir;     // absolute path of --state-dir (docs/STATE.md); empty: API changes are not kept
  bool reset_state = false;  // --reset-state: discard the state file at start-up
};

}  // namespace relay
