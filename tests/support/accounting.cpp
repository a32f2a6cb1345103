#include "accounting.hpp"

#include <gtest/gtest.h>

#include <string>

namespace relay::test {

namespace {

void expect_listener_adds_up(const StatsRecord& l, std::uint64_t sent) {
  const std::uint64_t accounted = l.u("received_messages") + l.u("dropped_empty") + l.u("dropped_oversized") +
                                  l.u("dropped_queue_full") + l.u("kernel_drops");
  EXPECT_EQ(accounted, sent) << "listener " << l.subject << ": received " << l.u("received_messages")
                             << " + dropped_empty " << l.u("dropped_empty") << " + dropped_oversized "
                             << l.u("dropped_oversized") << " + dropped_queue_full " << l.u("dropped_queue_full")
                             << " + kernel_drops " << l.u("kernel_drops") << " != " << sent << " datagrams sent";
}

void expect_destination_adds_up(const StatsRecord& d, std::uint64_t offered) {
  const std::uint64_t accounted = d.u("sent_messages") + d.u("dropped_lagging") + d.u("dropped_removed");
  EXPECT_EQ(accounted, offered) << "destination " << d.subject << ": sent " << d.u("sent_messages")
                                << " + dropped_lagging " << d.u("dropped_lagging") << " + dropped_removed "
                                << d.u("dropped_removed") << " != " << offered << " messages offered to it";
}

}  // namespace

void expect_exit_report_adds_up(const RelayStats& stats, const PortCounts& datagrams_sent,
                                const PortCounts& joined_at) {
  const auto queue = stats.queue();
  ASSERT_TRUE(queue) << "no queue line in relayd's exit report";
  const std::uint64_t tail = queue->u("tail");
  for (const auto& [port, sent] : datagrams_sent) {
    const auto l = stats.listener(port);
    ASSERT_TRUE(l) << "no listener on port " << port << " in relayd's exit report";
    expect_listener_adds_up(*l, sent);
  }
  ASSERT_FALSE(stats.destinations().empty()) << "no destination in relayd's exit report";
  for (const auto& [address, d] : stats.destinations()) {
    const auto joined = joined_at.find(address_port(address));
    const std::uint64_t from = joined == joined_at.end() ? 0 : joined->second;
    ASSERT_LE(from, tail) << address;
    expect_destination_adds_up(d, tail - from);
  }
}

}  // namespace relay::test
