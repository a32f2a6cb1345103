// background_config: how often the background thread runs its periodic work.
#pragma once

#include <functional>

namespace relay {

struct BackgroundConfig {
  double reclaim_interval = 0.02;  // s
  double stats_interval = 60;      // --stats-interval (s), 0 = off
  // Called on the background thread at every reclaim tick, so a caller can tell the loop is
  // alive (the systemd watchdog, daemon/service/). Must be cheap; empty: nothing is called.
  std::function<void()> on_tick;
  // With a data directory: called every `sync_interval` seconds on the background thread to
  // write back segments and record destinations' positions (relay/checkpoint.hpp); empty: never.
  double sync_interval = 1.0;  // --sync-interval (s)
  std::function<void()> on_sync{};
};

}  // namespace relay
