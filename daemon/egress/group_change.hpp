// group_change: what a change of a hash@ group's members does to its keys — the share that moves
// to another member — measured on a sample of keys with the group's own hashing (shard.hpp), so
// an operator sees it before (relayctl) or as (relayd's log) a replacement takes effect.
// Jump consistent hash moves 1/(N+1) of the keys when a member is added, 1/N when one of N is
// removed, and none between members present in both; members are matched by address.
// Thread: any; no state.
#pragma once

#include <cstddef>

#include "endpoint.hpp"

namespace relay {

struct KeysMoved {
  std::size_t moved = 0;
  std::size_t sampled = 0;
};

// Over `samples` distinct synthetic keys (their hashes are as uniform as real ones'), every member
// up. Both endpoints must be hash@ groups.
KeysMoved keys_moved(const Endpoint& from, const Endpoint& to, std::size_t samples = 100'000);

// When `from_address` and `to` are both hash@ groups, logs the share of keys that change member
// (one info line); else nothing.
void log_keys_moved(const std::string& from_address, const Endpoint& to);

}  // namespace relay
