// Unit tests of the segment pool: recycling order, the budget, and how much of the idle pool
// stays resident (checked with mincore, i.e. what the kernel really holds).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "segment_pool.hpp"

namespace relay {
namespace {

const std::size_t kPage = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));

bool resident(const Segment* seg) {
  unsigned char vec = 0;
  EXPECT_EQ(::mincore(seg->data, kPage, &vec), 0);
  return (vec & 1) != 0;
}

// Takes n segments and writes into each, as the producer would.
std::vector<Segment*> take_and_touch(SegmentPool& pool, std::size_t n) {
  std::vector<Segment*> segs;
  for (std::size_t i = 0; i < n; ++i) {
    Segment* s = pool.take();
    EXPECT_NE(s, nullptr);
    if (s == nullptr) break;
    std::memset(s->data, 0xab, kPage);
    segs.push_back(s);
  }
  return segs;
}

std::size_t count_resident(const std::vector<Segment*>& segs) {
  std::size_t n = 0;
  for (const Segment* s : segs) n += resident(s) ? 1 : 0;
  return n;
}

TEST(SegmentPool, RefusesBeyondTheBudget) {
  SegmentPool pool(kPage, 3);
  auto segs = take_and_touch(pool, 3);
  EXPECT_EQ(pool.take(), nullptr);
  EXPECT_EQ(pool.allocated(), 3u);
  pool.give(segs[0]);
  EXPECT_EQ(pool.idle(), 1u);
  EXPECT_EQ(pool.take(), segs[0]);  // recycled, not a new mapping
  EXPECT_EQ(pool.allocated(), 3u);
}

TEST(SegmentPool, SteadyStreamKeepsTheSegmentsItNeedsWarm) {
  SegmentPool pool(kPage, 64);
  auto segs = take_and_touch(pool, 8);
  pool.plan_pass();  // 8 taken since the last pass: keep 16 warm
  EXPECT_EQ(pool.warm_spare(), 16u);
  for (Segment* s : segs) pool.give(s);
  EXPECT_EQ(count_resident(segs), 8u);
  EXPECT_EQ(pool.idle(), 8u);
}

TEST(SegmentPool, IdlePoolShrinksBackToTwoWarmSegments) {
  SegmentPool pool(kPage, 64);
  auto segs = take_and_touch(pool, 8);
  pool.plan_pass();
  for (int pass = 0; pass < 20; ++pass) pool.plan_pass();  // nothing taken: one less per pass
  EXPECT_EQ(pool.warm_spare(), 2u);
  for (Segment* s : segs) pool.give(s);
  EXPECT_EQ(count_resident(segs), 2u);  // the rest went back to the kernel
  EXPECT_TRUE(resident(segs[0]));
  EXPECT_FALSE(resident(segs[7]));
}

TEST(SegmentPool, WarmSpareIsAtMostAQuarterOfTheBudget) {
  SegmentPool pool(kPage, 16);
  auto segs = take_and_touch(pool, 16);
  pool.plan_pass();
  EXPECT_EQ(pool.warm_spare(), 4u);
  for (Segment* s : segs) pool.give(s);
  EXPECT_EQ(count_resident(segs), 4u);
}

TEST(SegmentPool, RecycledSegmentsCountAsTaken) {
  SegmentPool pool(kPage, 64);
  auto segs = take_and_touch(pool, 4);
  for (int pass = 0; pass < 10; ++pass) pool.plan_pass();
  EXPECT_EQ(pool.warm_spare(), 2u);
  for (Segment* s : segs) pool.give(s);
  auto again = take_and_touch(pool, 4);  // all four from the ring
  EXPECT_EQ(pool.allocated(), 4u);
  pool.plan_pass();
  EXPECT_EQ(pool.warm_spare(), 8u);
}

}  // namespace
}  // namespace relay
