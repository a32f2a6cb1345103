// snapshot_accounting: relayd's conservation laws (accounting.hpp) on a live GetStats snapshot.
// Header only, so that only tests linking relay_proto see the generated types. The snapshot's
// figures are read one after another, not atomically: call it at quiescence (no traffic in
// flight, every sink caught up), where they cannot move between reads.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>

#include "accounting.hpp"
#include "relay/v1/relay.pb.h"

namespace relay::test {

inline ListenerTerms listener_terms(const relay::v1::ListenerCounters& c) {
  return {.received = c.received_messages(),
          .empty = c.dropped_empty(),
          .oversized = c.dropped_oversized(),
          .queue_full = c.dropped_queue_full(),
          .kernel_drops = c.kernel_drops(),
          .partial_frames = c.dropped_partial_frames()};
}

// For every listener named in `sent`, and every destination (joined_at as for the exit report):
//   the listener law;  tail = the sum of received_messages = `received` (the listeners summed);
//   tail - joined_at = sent + dropped_lagging + dropped_removed + dropped_rejected + lag_messages;
//   lag_messages = tail - cursor.
inline void expect_snapshot_adds_up(const relay::v1::Stats& s, const PortCounts& sent,
                                    const PortCounts& joined_at = {}) {
  const std::uint64_t tail = s.queue().tail();
  for (const auto& [port, count] : sent) {
    const auto l = std::find_if(s.listeners().begin(), s.listeners().end(),
                                [&](const auto& x) { return address_port(x.address()) == port; });
    ASSERT_NE(l, s.listeners().end()) << "no listener on port " << port << " in\n" << s.DebugString();
    expect_listener_adds_up(l->address(), listener_terms(l->counters()), count);
  }
  std::uint64_t received = 0;
  for (const auto& l : s.listeners()) received += l.counters().received_messages();
  EXPECT_EQ(received, tail) << "the listeners received " << received << " messages, the queue's tail is " << tail;
  EXPECT_EQ(s.received().received_messages(), received) << "'received' is not the listeners' sum";
  for (const auto& d : s.destinations()) {
    const auto joined = joined_at.find(address_port(d.address()));
    const std::uint64_t from = joined == joined_at.end() ? 0 : joined->second;
    ASSERT_LE(from, tail) << d.address();
    ASSERT_LE(d.cursor(), tail) << d.address();
    EXPECT_EQ(d.lag_messages(), tail - d.cursor()) << d.address() << ": lag is not tail minus cursor";
    const auto& c = d.counters();
    expect_destination_adds_up(d.address(),
                               {.sent = c.sent_messages(),
                                .lagging = c.dropped_lagging(),
                                .removed = c.dropped_removed(),
                                .rejected = c.dropped_rejected(),
                                .lag = d.lag_messages()},
                               tail - from);
  }
}

}  // namespace relay::test
