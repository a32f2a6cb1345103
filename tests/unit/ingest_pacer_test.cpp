// Unit tests of the ingest pacer's decisions: when the server loop may wait between polls, and
// how long. Pure arithmetic on (time, totals); the e2e tests cover the loop it drives.
#include <gtest/gtest.h>

#include "ingest_pacer.hpp"

namespace relay {
namespace {

constexpr double kMaxDelay = 500e-6;
constexpr double kWindow = IngestPacer::kWindow;

// Feeds windows of `per_window` 64-byte messages each; returns the delay after the last.
double run_windows(IngestPacer& p, int windows, std::uint64_t per_window, double& now, IngestTotals& t,
                   std::uint64_t drops_per_window = 0) {
  double delay = 0;
  for (int i = 0; i < windows; ++i) {
    now += kWindow + 1e-6;  // just past the window: sums of 0.01 round below
    t.messages += per_window;
    t.bytes += 64 * per_window;
    t.kernel_drops += drops_per_window;
    EXPECT_TRUE(p.due(now));
    delay = p.update(now, t);
  }
  return delay;
}

TEST(IngestPacer, FirstUpdateOnlyStartsAWindow) {
  IngestPacer p(kMaxDelay, 0);
  EXPECT_TRUE(p.due(0.0));
  EXPECT_EQ(p.update(0.0, {1'000'000, 64'000'000, 0}), 0.0);
  EXPECT_FALSE(p.due(kWindow / 2));
}

TEST(IngestPacer, LightTrafficIsNeverDelayed) {
  IngestPacer p(kMaxDelay, 0);
  double now = 0;
  IngestTotals t;
  p.update(now, t);
  // 200k msg/s: a 500 us wait would collect 100 messages, under the 128 worth waiting for.
  EXPECT_EQ(run_windows(p, 3, 2000, now, t), 0.0);
}

TEST(IngestPacer, HeavyTrafficWaitsTheMaximum) {
  IngestPacer p(kMaxDelay, 0);
  double now = 0;
  IngestTotals t;
  p.update(now, t);
  EXPECT_DOUBLE_EQ(run_windows(p, 1, 3000, now, t), kMaxDelay);  // 300k msg/s
  EXPECT_EQ(run_windows(p, 1, 100, now, t), 0.0);                 // and back at once when it calms
}

TEST(IngestPacer, NeverLetsTheSocketBufferFillBeyondAQuarter) {
  double now = 0;
  IngestTotals t;
  // 300k msg/s of 64 B ~ 300k * (64 + 1024) B/s. A quarter of 600 kB lasts ~459 us: wait that long.
  IngestPacer mid(kMaxDelay, 600'000);
  mid.update(now, t);
  const double d = run_windows(mid, 1, 3000, now, t);
  EXPECT_GT(d, 420e-6);
  EXPECT_LT(d, 480e-6);
  // Linux's default 208 kB buffer: the wait that fits would collect under 128 messages: none.
  IngestPacer small(kMaxDelay, 212'992);
  small.update(now, t);
  EXPECT_EQ(run_windows(small, 1, 3000, now, t), 0.0);
}

TEST(IngestPacer, KernelDropsPausePacing) {
  IngestPacer p(kMaxDelay, 0);
  double now = 0;
  IngestTotals t;
  p.update(now, t);
  EXPECT_EQ(run_windows(p, 1, 3000, now, t, 5), 0.0);
  EXPECT_EQ(run_windows(p, IngestPacer::kPauseWindowsAfterDrop - 1, 3000, now, t), 0.0);
  EXPECT_DOUBLE_EQ(run_windows(p, 1, 3000, now, t), kMaxDelay);
}

TEST(IngestPacer, ZeroMaximumTurnsPacingOff) {
  IngestPacer p(0, 0);
  EXPECT_FALSE(p.due(1.0));
}

}  // namespace
}  // namespace relay
