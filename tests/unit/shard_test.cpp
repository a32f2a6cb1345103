// Sharding keys over a destination group's members (daemon/egress/shard.hpp, issue #13's
// criteria): over 10^6 graphite metric names every member of 2 to 10 gets its 1/N within 5 %;
// a member added moves about 1/(N+1) of the keys, all of them to it; a member down moves only
// its own keys, spread evenly over the others, and they come back when it is up again.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "shard.hpp"

namespace relay {
namespace {

constexpr std::size_t kKeys = 1'000'000;

// Graphite lines: the key is the metric name, the rest (value, timestamp) must not matter.
std::vector<std::uint64_t> metric_hashes() {
  std::vector<std::uint64_t> out;
  out.reserve(kKeys);
  const ShardKey first_field{ShardKeyKind::first_field};
  for (std::size_t i = 0; i < kKeys; ++i) {
    const std::string line = "servers.host" + std::to_string(i % 997) + ".cpu" + std::to_string(i / 997) + ".user " +
                             std::to_string(i * 7 % 100) + " 1733580000";
    out.push_back(key_hash(key_of(line, first_field)));
  }
  return out;
}

const std::vector<std::uint64_t>& hashes() {
  static const std::vector<std::uint64_t> h = metric_hashes();
  return h;
}

TEST(ShardKey, FieldsAndRanges) {
  EXPECT_EQ(key_of("a.b.c 1 2", {ShardKeyKind::first_field}), "a.b.c");
  EXPECT_EQ(key_of("a.b.c\t1", {ShardKeyKind::first_field}), "a.b.c");
  EXPECT_EQ(key_of("no-space", {ShardKeyKind::first_field}), "no-space");
  EXPECT_EQ(key_of("abcdef", {ShardKeyKind::byte_range, 2, 3}), "cde");
  EXPECT_EQ(key_of("abcdef", {ShardKeyKind::byte_range, 4, 10}), "ef");
  EXPECT_EQ(key_of("abc", {ShardKeyKind::byte_range, 5, 1}), "");
  EXPECT_EQ(key_of("whole line", {}), "whole line");
  EXPECT_EQ(key_hash(key_of("m 1 2", {ShardKeyKind::first_field})),
            key_hash(key_of("m 9 9", {ShardKeyKind::first_field})));
}

TEST(JumpHash, EveryMemberGetsItsShareWithinFivePercent) {
  for (std::uint32_t n = 2; n <= 10; ++n) {
    std::vector<std::size_t> count(n);
    for (const auto h : hashes()) ++count[jump_bucket(h, n)];
    double worst = 0;
    for (std::uint32_t b = 0; b < n; ++b) {
      const double share = static_cast<double>(count[b]) * n / kKeys;
      EXPECT_NEAR(share, 1.0, 0.05) << "member " << b << " of " << n << " got " << count[b];
      worst = std::max(worst, std::abs(share - 1.0));
    }
    std::printf("%u members: the furthest from 1/N is off by %.2f %%\n", n, 100 * worst);
  }
}

TEST(JumpHash, AddingAMemberMovesOnlyItsShareAndOnlyToIt) {
  for (std::uint32_t n = 2; n <= 9; ++n) {
    std::size_t moved = 0;
    for (const auto h : hashes()) {
      const auto before = jump_bucket(h, n), after = jump_bucket(h, n + 1);
      if (before != after) {
        ++moved;
        ASSERT_EQ(after, n) << "a key moved between old members";
      }
    }
    const double expected = static_cast<double>(kKeys) / (n + 1);
    EXPECT_NEAR(moved / expected, 1.0, 0.05) << n << " -> " << n + 1 << ": " << moved << " keys moved";
    std::printf("members %u -> %u: %zu of %zu keys moved (%.2f %%, 1/(N+1) = %.2f %%)\n", n, n + 1, moved, kKeys,
                100.0 * moved / kKeys, 100.0 / (n + 1));
  }
}

TEST(PickMember, ADownMemberMovesOnlyItsKeysSpreadOverTheOthers) {
  constexpr std::size_t kN = 5, kDown = 2;
  bool all[kN] = {true, true, true, true, true};
  bool one_down[kN] = {true, true, false, true, true};
  std::vector<std::size_t> took(kN);
  std::size_t moved = 0;
  for (const auto h : hashes()) {
    const std::size_t up = pick_member(h, all), down = pick_member(h, one_down);
    ASSERT_NE(down, kDown);
    if (up != down) {
      ASSERT_EQ(up, kDown) << "a key of a healthy member moved";
      ++moved;
      ++took[down];
    }
  }
  EXPECT_NEAR(static_cast<double>(moved) * kN / kKeys, 1.0, 0.05);
  for (std::size_t m = 0; m < kN; ++m) {
    if (m == kDown) continue;
    EXPECT_NEAR(static_cast<double>(took[m]) * (kN - 1) / moved, 1.0, 0.05) << "member " << m << " took " << took[m];
  }
}

TEST(PickMember, NoneHealthyIsN) {
  bool none[3] = {false, false, false};
  EXPECT_EQ(pick_member(12345, none), 3u);
  bool last[3] = {false, false, true};
  for (std::uint64_t h = 0; h < 1000; ++h) EXPECT_EQ(pick_member(h * 0x9e3779b97f4a7c15ULL, last), 2u);
}

}  // namespace
}  // namespace relay
