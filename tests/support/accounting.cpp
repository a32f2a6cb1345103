#include "accounting.hpp"

#include <gtest/gtest.h>

namespace relay::test {

namespace {

ListenerTerms listener_terms(const StatsRecord& l) {
  return {.received = l.u("received_messages"),
          .empty = l.u("dropped_empty"),
          .oversized = l.u("dropped_oversized"),
          .queue_full = l.u("dropped_queue_full"),
          .kernel_drops = l.u("kernel_drops"),
          .partial_frames = l.u("dropped_partial_frames")};
}

DestinationTerms destination_terms(const StatsRecord& d) {
  return {.sent = d.u("sent_messages"),
          .lagging = d.u("dropped_lagging"),
          .removed = d.u("dropped_removed"),
          .rejected = d.u("dropped_rejected")};
}

}  // namespace

void expect_listener_adds_up(const std::string& subject, const ListenerTerms& t, std::uint64_t sent) {
  const std::uint64_t accounted = t.received + t.empty + t.oversized + t.queue_full + t.kernel_drops + t.partial_frames;
  EXPECT_EQ(accounted, sent) << "listener " << subject << ": received " << t.received << " + dropped_empty " << t.empty
                             << " + dropped_oversized " << t.oversized << " + dropped_queue_full " << t.queue_full
                             << " + kernel_drops " << t.kernel_drops << " + dropped_partial_frames " << t.partial_frames
                             << " != " << sent << " messages sent";
}

void expect_destination_adds_up(const std::string& subject, const DestinationTerms& t, std::uint64_t offered) {
  const std::uint64_t accounted = t.sent + t.lagging + t.removed + t.rejected + t.lag;
  EXPECT_EQ(accounted, offered) << "destination " << subject << ": sent " << t.sent << " + dropped_lagging "
                                << t.lagging << " + dropped_removed " << t.removed << " + dropped_rejected "
                                << t.rejected << " + lag " << t.lag << " != " << offered
                                << " messages offered to it since it joined";
}

void expect_exit_report_adds_up(const RelayStats& stats, const PortCounts& sent, const PortCounts& joined_at,
                                DestinationLines destinations) {
  const auto queue = stats.queue();
  ASSERT_TRUE(queue) << "no queue line in relayd's exit report";
  const std::uint64_t tail = queue->u("tail");
  for (const auto& [port, count] : sent) {
    const auto l = stats.listener(port);
    ASSERT_TRUE(l) << "no listener on port " << port << " in relayd's exit report";
    expect_listener_adds_up(l->subject, listener_terms(*l), count);
  }
  std::uint64_t received = 0;
  for (const auto& [address, l] : stats.listeners()) received += l.u("received_messages");
  EXPECT_EQ(received, tail) << "the listeners received " << received << " messages, the queue's tail is " << tail;
  if (destinations == DestinationLines::at_least_one)
    ASSERT_FALSE(stats.destinations().empty()) << "no destination in relayd's exit report";
  else
    EXPECT_TRUE(stats.destinations().empty()) << "relayd's exit report names a destination";
  for (const auto& [address, d] : stats.destinations()) {
    const auto joined = joined_at.find(address_port(address));
    const std::uint64_t from = joined == joined_at.end() ? 0 : joined->second;
    ASSERT_LE(from, tail) << address;
    expect_destination_adds_up(address, destination_terms(d), tail - from);
  }
}

}  // namespace relay::test
