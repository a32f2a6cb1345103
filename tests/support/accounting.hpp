// accounting: relayd's conservation laws, checked on its exit report (issue #9: every loss
// counted). At exit every destination has been through the shutdown drain, so each message it
// was offered is exactly one of sent, dropped_lagging or dropped_removed; and each datagram a
// test sent to a UDP listener was received or dropped for a counted reason.
#pragma once

#include <cstdint>
#include <map>

#include "relay_stats.hpp"

namespace relay::test {

// Ports to counts: datagrams a test sent to a UDP listener (listeners not named are not
// checked), or the queue's tail when a destination joined (0 for those not named: the command
// line's destinations join before the first message).
using PortCounts = std::map<std::uint16_t, std::uint64_t>;

// Records a test failure (naming the subject and every term) for each law that does not hold:
//   datagrams sent = received + dropped_empty + dropped_oversized + dropped_queue_full + kernel_drops
//   tail - joined_at = sent + dropped_lagging + dropped_removed            (every destination)
void expect_exit_report_adds_up(const RelayStats& stats, const PortCounts& datagrams_sent,
                                const PortCounts& joined_at = {});

}  // namespace relay::test
