// background_config: how often the background thread runs its periodic work.
#pragma once

namespace relay {

struct BackgroundConfig {
  double reclaim_interval = 0.02;  // s
  double stats_interval = 60;      // --stats-interval (s), 0 = off
};

}  // namespace relay
