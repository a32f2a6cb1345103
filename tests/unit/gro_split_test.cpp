// split_gro: a coalesced UDP buffer back into its datagrams.
#include "gro_split.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace relay {
namespace {

std::vector<std::size_t> sizes(std::size_t buffer, std::size_t segment) {
  static std::byte storage[4096];
  std::vector<std::size_t> out;
  std::size_t covered = 0;
  split_gro(std::span<const std::byte>(storage, buffer), segment, [&](std::span<const std::byte> d) {
    EXPECT_EQ(d.data(), storage + covered);  // in order, no gap, no overlap
    covered += d.size();
    out.push_back(d.size());
  });
  EXPECT_EQ(covered, buffer);
  return out;
}

TEST(GroSplit, EqualSegmentsAndAShorterLast) {
  EXPECT_EQ(sizes(350, 100), (std::vector<std::size_t>{100, 100, 100, 50}));
  EXPECT_EQ(sizes(300, 100), (std::vector<std::size_t>{100, 100, 100}));
  EXPECT_EQ(sizes(3, 1), (std::vector<std::size_t>{1, 1, 1}));
}

TEST(GroSplit, NoSegmentSizeOrOneAtLeastTheBufferGivesOneDatagram) {
  EXPECT_EQ(sizes(350, 0), std::vector<std::size_t>{350});
  EXPECT_EQ(sizes(350, 350), std::vector<std::size_t>{350});
  EXPECT_EQ(sizes(350, 65536), std::vector<std::size_t>{350});
}

// An empty buffer is still one (empty) datagram, so the listener counts it as dropped_empty
// rather than losing it uncounted, with or without a segment size.
TEST(GroSplit, AnEmptyBufferIsOneEmptyDatagram) {
  EXPECT_EQ(sizes(0, 0), std::vector<std::size_t>{0});
  EXPECT_EQ(sizes(0, 100), std::vector<std::size_t>{0});
}

}  // namespace
}  // namespace relay
