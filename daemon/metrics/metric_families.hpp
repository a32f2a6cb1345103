// metric_families: a StatsSnapshot as Prometheus metric families (docs/METRICS.md).
//
// Every counter of the counter table (proto/counter_table.hpp) becomes a `_total` counter with a
// `listener` or `destination` label; the drop and close counters of one kind share a family with a
// `reason` label, so `sum by (reason)` works and a new reason needs no new dashboard. Help texts
// come from the table. Pure: any thread, no I/O, nothing shared with the data path.
#pragma once

#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "snapshot.hpp"

namespace relay::metrics {

std::vector<prometheus::MetricFamily> metric_families(const StatsSnapshot& s, const std::string& version);

}  // namespace relay::metrics
