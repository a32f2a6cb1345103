// status_line: the STATUS= text systemd shows, from two snapshots.
#include "status_line.hpp"

#include <gtest/gtest.h>

namespace relay::service {
namespace {

StatsSnapshot snapshot(std::int64_t seconds, std::uint64_t received, std::uint64_t sent, std::uint64_t lagging) {
  StatsSnapshot s;
  s.unix_ns = seconds * 1'000'000'000;
  s.received.received_messages = received;
  s.listeners.resize(2);
  DestinationSnapshot d;
  d.id = 1;
  d.state = DestinationState::connected;
  d.counters.sent_messages = sent;
  d.counters.dropped_lagging = lagging;
  s.destinations = {d, d};
  s.destinations[1].id = 2;
  s.destinations[1].state = DestinationState::backing_off;
  s.queue.bytes_in_use = 3 << 20;
  s.queue.max_queue_bytes = 256 << 20;
  return s;
}

TEST(StatusLineTest, FirstLineHasNoRates) {
  EXPECT_EQ(status_line(snapshot(10, 0, 0, 0), nullptr),
            "2 listeners, 2 destinations (1 connected); queue 3.0 MiB of 256.0 MiB");
}

TEST(StatusLineTest, RatesSincePreviousSnapshot) {
  const StatsSnapshot before = snapshot(10, 1000, 500, 0);
  const StatsSnapshot now = snapshot(15, 6000, 10500, 50);  // 5 s later, two destinations alike
  EXPECT_EQ(status_line(now, &before),
            "2 listeners, 2 destinations (1 connected); 1000 msg/s in, 4000 msg/s out, 20 dropped/s; "
            "queue 3.0 MiB of 256.0 MiB");
}

TEST(StatusLineTest, OneOfEachIsSingular) {
  StatsSnapshot s = snapshot(1, 0, 0, 0);
  s.listeners.resize(1);
  s.destinations.resize(1);
  EXPECT_EQ(status_line(s, nullptr).substr(0, 40), "1 listener, 1 destination (1 connected);");
}

TEST(StatusLineTest, ACounterThatWentDownReadsAsNoTraffic) {
  const StatsSnapshot before = snapshot(10, 1000, 5000, 0);
  StatsSnapshot now = snapshot(11, 1000, 5000, 0);
  now.destinations.pop_back();  // a removed destination takes its counts with it
  EXPECT_NE(status_line(now, &before).find("0 msg/s out"), std::string::npos);
}

}  // namespace
}  // namespace relay::service
