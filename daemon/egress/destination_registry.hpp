// destination_registry: the list of destinations other threads read snapshots from.
//
// The client thread replaces the whole list when a destination is added or removed (the control
// path, never the data path), under a mutex that readers take only to copy the list; the counters
// and gauges they then read are atomics the client thread writes without any lock.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "destination_snapshot.hpp"

namespace relay {

struct DestinationShared;

class DestinationRegistry {
 public:
  // Client thread.
  void publish(std::vector<std::shared_ptr<DestinationShared>> now);
  // Any thread: every listed destination as it is now, in the order published.
  std::vector<DestinationSnapshot> snapshot(std::uint64_t tail, std::int64_t now_ns) const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<DestinationShared>> list_;
};

}  // namespace relay
