// accounting: relayd's conservation laws (issue #9: every loss counted), checked on its exit
// report or, through snapshot_accounting.hpp, on a live GetStats snapshot taken at quiescence.
// At exit every destination has been through the shutdown drain, so each message it was offered
// is exactly one of sent, dropped_lagging or dropped_removed; and each message a test sent to a
// listener was received or dropped for a counted reason.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "relay_stats.hpp"

namespace relay::test {

// Ports to counts: messages a test sent to a listener (listeners not named are not checked), or
// the queue's tail when a destination joined (0 for those not named: the command line's
// destinations join before the first message). For a UDP listener a message is a datagram; for
// a TCP listener it is a frame whose header relayd could read — bytes after an oversized header
// are not frames, relayd counts them in dropped_bad_frame_bytes with the connection it closes.
using PortCounts = std::map<std::uint16_t, std::uint64_t>;

// Whether the exit report must name a destination (a missing line means a missing report).
enum class DestinationLines { at_least_one, none };

// The terms of one listener's law, whatever they were read from.
struct ListenerTerms {
  std::uint64_t received = 0, empty = 0, oversized = 0, queue_full = 0, kernel_drops = 0, partial_frames = 0;
};
// The terms of one destination's law; lag is 0 in an exit report (the drain counted it).
struct DestinationTerms {
  std::uint64_t sent = 0, lagging = 0, removed = 0, rejected = 0, lag = 0;
};

// messages sent = received + dropped_empty + dropped_oversized + dropped_queue_full + kernel_drops
//                 + dropped_partial_frames   (kernel_drops is UDP's, dropped_partial_frames TCP's)
void expect_listener_adds_up(const std::string& subject, const ListenerTerms& t, std::uint64_t sent);
// tail - joined_at = sent + dropped_lagging + dropped_removed + dropped_rejected + lag
void expect_destination_adds_up(const std::string& subject, const DestinationTerms& t, std::uint64_t offered);

// Records a test failure (naming the subject and every term) for each law that does not hold:
//   every listener named in `sent`: the listener law above;
//   tail = the sum of received_messages over every listener (each message accepted gets one id);
//   every destination in the report: the destination law, from its joined_at (lag 0).
void expect_exit_report_adds_up(const RelayStats& stats, const PortCounts& sent, const PortCounts& joined_at = {},
                                DestinationLines destinations = DestinationLines::at_least_one);

}  // namespace relay::test
