// watch: `relayctl stats --watch`, a top-like view redrawn on every WatchStats message.
#pragma once

#include <chrono>
#include <cstdint>

#include "session.hpp"

namespace relayctl {

struct WatchOptions {
  std::chrono::milliseconds interval{1000};
  std::uint64_t count = 0;  // stop after this many snapshots; 0: until Ctrl-C
};

// Returns the exit code; throws CommandError when the stream fails.
int watch_stats(Session& session, const WatchOptions& options);

}  // namespace relayctl
