// Unit tests of BackgroundThread::set_stats_interval(): the statistics report turned on, sped up
// and off while the thread runs, and before it starts.
#include "background_thread.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>

#include "timeouts.hpp"

namespace relay {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Fixture {
  Queue queue{QueueConfig{.max_queue_bytes = 1 << 20, .segment_bytes = 64 << 10, .max_message = 100, .max_cursors = 4}};
  // relaxed: plain event counts, read by the test thread after bounded polling.
  std::atomic<int> reports{0};
  std::atomic<int> ticks{0};
  BackgroundThread bg;

  explicit Fixture(double stats_interval)
      : bg(queue,
           BackgroundConfig{.reclaim_interval = 0.02,
                            .stats_interval = stats_interval,
                            .on_tick = [this] { ticks.fetch_add(1, std::memory_order_relaxed); }},
           [this] { reports.fetch_add(1, std::memory_order_relaxed); }) {}

  int reported() const { return reports.load(std::memory_order_relaxed); }
  // Returns once the loop has gone round a few times since the call: a change posted before it
  // has been applied (the loop handles a wake-up in the iteration after it is sent).
  bool loop_turned() {
    const int from = ticks.load(std::memory_order_relaxed);
    return test::wait_until([&] { return ticks.load(std::memory_order_relaxed) >= from + 3; }, 5s);
  }
};

TEST(BackgroundThreadStats, OffThenOnThenOff) {
  Fixture f(0);
  f.bg.start();
  ASSERT_TRUE(f.loop_turned());
  std::this_thread::sleep_for(200ms);  // measured: off means no report
  EXPECT_EQ(f.reported(), 0);

  f.bg.set_stats_interval(0.05);
  EXPECT_EQ(f.bg.stats_interval(), 0.05);
  EXPECT_TRUE(test::wait_until([&] { return f.reported() >= 3; }, 5s)) << "reports: " << f.reported();

  f.bg.set_stats_interval(0);
  EXPECT_EQ(f.bg.stats_interval(), 0);
  ASSERT_TRUE(f.loop_turned());
  const int after = f.reported();
  std::this_thread::sleep_for(300ms);  // measured: six periods of the old interval, no report
  EXPECT_EQ(f.reported(), after) << "reports went on after the interval was set to 0";
  f.bg.stop();
}

// A 5 s period shortened to 50 ms: the timer restarts with the new period instead of waiting out
// the old one.
TEST(BackgroundThreadStats, ShorterPeriodRestartsTheTimer) {
  Fixture f(5);
  f.bg.start();
  ASSERT_TRUE(f.loop_turned());
  f.bg.set_stats_interval(0.05);
  const auto changed = Clock::now();
  ASSERT_TRUE(test::wait_until([&] { return f.reported() >= 1; }, 20s));
  EXPECT_LT(Clock::now() - changed, 2s) << "the first report waited for the old period";  // unscaled: 5 s vs 50 ms
  f.bg.stop();
}

TEST(BackgroundThreadStats, SetBeforeStart) {
  Fixture f(0);
  f.bg.set_stats_interval(0.05);
  f.bg.start();
  EXPECT_TRUE(test::wait_until([&] { return f.reported() >= 2; }, 5s)) << "reports: " << f.reported();
  f.bg.stop();
}

TEST(BackgroundThreadStats, InvalidIntervalIsRefused) {
  Fixture f(60);
  EXPECT_THROW(f.bg.set_stats_interval(-1), std::invalid_argument);
  EXPECT_THROW(f.bg.set_stats_interval(NAN), std::invalid_argument);
  EXPECT_THROW(f.bg.set_stats_interval(INFINITY), std::invalid_argument);
  EXPECT_EQ(f.bg.stats_interval(), 60);
}

}  // namespace
}  // namespace relay
