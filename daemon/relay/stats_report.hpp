// stats_report: renders a StatsSnapshot as log lines of key=value pairs, one line for the queue,
// one per listener and one per destination. Keys are the names of the counter table
// (proto/counter_table.hpp), so the log, the gRPC API and relayctl use the same names. Rates
// come from the previous snapshot. A pure function; the background thread's stats tick runs it.
#pragma once

#include <string>
#include <vector>

#include "snapshot.hpp"

namespace relay {

std::vector<std::string> format_stats(const StatsSnapshot& now, const StatsSnapshot* previous);

}  // namespace relay
