// egress_config: how the client thread runs its destinations (from the command line).
#pragma once

#include <cstddef>

namespace relay {

struct DestinationConfig {
  double reconnect_min = 0.1;    // --reconnect-min: first backoff delay (s)
  double reconnect_max = 10.0;   // --reconnect-max: backoff ceiling (s)
  double connect_timeout = 5.0;  // --connect-timeout (s)
  int keepalive_idle = 30;       // s of idle before keepalive probes
  int keepalive_interval = 10;   // s between probes
  int keepalive_count = 3;       // unanswered probes before the connection is dropped
  bool operator==(const DestinationConfig&) const = default;
};

struct ClientConfig {
  DestinationConfig destination;
  std::size_t max_destinations = 64;  // --max-destinations
};

}  // namespace relay
