// status_line: the one line systemd shows for relayd (`systemctl status relayd`, the STATUS=
// field): how many listeners and destinations, how many of those are connected, and the rates
// in, out and dropped since the previous snapshot, with the queue's fill. A pure function.
#pragma once

#include <string>

#include "snapshot.hpp"

namespace relay::service {

// Without `previous` (the first line) the rates are left out.
std::string status_line(const StatsSnapshot& now, const StatsSnapshot* previous);

}  // namespace relay::service
