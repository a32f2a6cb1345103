#include "destination_registry.hpp"

#include "destination.hpp"

namespace relay {

void DestinationRegistry::publish(std::vector<std::shared_ptr<DestinationShared>> now) {
  std::lock_guard lock(mutex_);
  list_.swap(now);
}

std::vector<DestinationSnapshot> DestinationRegistry::snapshot(std::uint64_t tail, std::int64_t now_ns) const {
  std::vector<std::shared_ptr<DestinationShared>> list;
  {
    std::lock_guard lock(mutex_);
    list = list_;
  }
  std::vector<DestinationSnapshot> out;
  out.reserve(list.size());
  for (const auto& d : list) out.push_back(snapshot_of(*d, tail, now_ns));
  return out;
}

}  // namespace relay
