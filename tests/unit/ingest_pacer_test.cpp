// Unit tests of the ingest pacer's decisions: when the server loop may wait between polls, and
// how long. Pure arithmetic on (time, totals); the e2e tests cover the loop it drives.
#include <gtest/gtest.h>

#include "ingest_pacer.hpp"

namespace relay {
namespace {

constexpr double kMaxDelay = 500e-6;

// A pacer fed with windows of 64-byte messages, as the server loop would feed it.
struct Fed {
  explicit Fed(std::uint64_t rcvbuf = 0, double max_delay = kMaxDelay) : pacer(max_delay, rcvbuf) {
    pacer.update(now, totals);  // starts the first window
  }
  // Feeds `windows` windows of `per_window` messages each; returns the delay after the last.
  double windows(int windows, std::uint64_t per_window, std::uint64_t drops_per_window = 0) {
    double delay = 0;
    for (int i = 0; i < windows; ++i) {
      now += IngestPacer::kWindow + 1e-6;  // just past the window: sums of 0.01 round below
      totals.messages += per_window;
      totals.bytes += 64 * per_window;
      totals.kernel_drops += drops_per_window;
      EXPECT_TRUE(pacer.due(now));
      delay = pacer.update(now, totals);
    }
    return delay;
  }
  double now = 0;
  IngestTotals totals;
  IngestPacer pacer;
};

TEST(IngestPacer, FirstUpdateOnlyStartsAWindow) {
  IngestPacer p(kMaxDelay, 0);
  EXPECT_TRUE(p.due(0.0));
  EXPECT_EQ(p.update(0.0, {1'000'000, 64'000'000, 0}), 0.0);
  EXPECT_FALSE(p.due(IngestPacer::kWindow / 2));
}

TEST(IngestPacer, LightTrafficIsNeverDelayed) {
  Fed f;
  // 200k msg/s: a 500 us wait would collect 100 messages, under the 128 worth waiting for.
  EXPECT_EQ(f.windows(3, 2000), 0.0);
}

TEST(IngestPacer, HeavyTrafficWaitsTheMaximum) {
  Fed f;
  EXPECT_DOUBLE_EQ(f.windows(1, 3000), kMaxDelay);  // 300k msg/s
  EXPECT_EQ(f.windows(1, 100), 0.0);                // and back at once when it calms
}

TEST(IngestPacer, NeverLetsTheSocketBufferFillBeyondAQuarter) {
  // 300k msg/s of 64 B ~ 300k * (64 + 1024) B/s. A quarter of 600 kB lasts ~459 us: wait that long.
  Fed mid(600'000);
  const double d = mid.windows(1, 3000);
  EXPECT_GT(d, 420e-6);
  EXPECT_LT(d, 480e-6);
  // Linux's default 208 kB buffer: the wait that fits would collect under 128 messages: none.
  Fed small(212'992);
  EXPECT_EQ(small.windows(1, 3000), 0.0);
}

TEST(IngestPacer, KernelDropsPausePacing) {
  Fed f;
  EXPECT_EQ(f.windows(1, 3000, 5), 0.0);
  EXPECT_EQ(f.windows(IngestPacer::kPauseWindowsAfterDrop - 1, 3000), 0.0);
  EXPECT_DOUBLE_EQ(f.windows(1, 3000), kMaxDelay);
}

TEST(IngestPacer, ZeroMaximumTurnsPacingOff) {
  IngestPacer p(0, 0);
  EXPECT_FALSE(p.due(1.0));
}

}  // namespace
}  // namespace relay
