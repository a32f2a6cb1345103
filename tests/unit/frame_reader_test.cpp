// FrameReader: TCP ingest's lp32le decoding without a socket (tcp_listener_test covers the socket).
#include "frame_reader.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace relay {
namespace {

std::string frame(const std::string& payload) {
  const auto n = static_cast<std::uint32_t>(payload.size());
  return std::string{char(n), char(n >> 8), char(n >> 16), char(n >> 24)} + payload;
}

// Feeds `bytes` in pieces of at most `piece`, collecting the frames passed on.
struct Feed {
  FrameReader reader;
  std::vector<std::string> frames;
  std::optional<OversizedFrame> bad;

  explicit Feed(std::size_t initial = FrameReader::kDefaultInitialBuffer) : reader(initial) {}

  void push(const std::string& bytes, std::uint32_t max_payload, std::size_t piece = SIZE_MAX) {
    for (std::size_t at = 0; at < bytes.size() && !bad;) {
      const auto room = reader.room();
      ASSERT_FALSE(room.empty());
      const std::size_t n = std::min({piece, room.size(), bytes.size() - at});
      std::memcpy(room.data(), bytes.data() + at, n);
      reader.received(n);
      at += n;
      bad = reader.take_frames(max_payload, [&](std::span<const std::byte> p) {
        frames.emplace_back(reinterpret_cast<const char*>(p.data()), p.size());
      });
      reader.shrink();
    }
  }
};

TEST(FrameReader, FramesCutAnywhereComeOutWholeAndInOrder) {
  const std::string stream = frame("hello") + frame("") + frame(std::string(100, 'x')) + frame("end");
  for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
    Feed f(8);
    f.push(stream, 1000, piece);
    ASSERT_FALSE(f.bad);
    EXPECT_EQ(f.frames, (std::vector<std::string>{"hello", "", std::string(100, 'x'), "end"})) << piece;
    EXPECT_EQ(f.reader.pending(), 0u);
  }
}

TEST(FrameReader, AnIncompleteFrameIsPendingWithItsBytes) {
  Feed f;
  f.push(frame("done") + frame("cut here").substr(0, 7), 1000);
  EXPECT_EQ(f.frames, std::vector<std::string>{"done"});
  EXPECT_EQ(f.reader.pending(), 7u);
}

TEST(FrameReader, AnOversizedHeaderDropsItselfAndEverythingAfter) {
  Feed f;
  const std::string bad = frame(std::string(11, 'b'));
  f.push(frame("ok") + bad + "trailing", 10);
  ASSERT_TRUE(f.bad);
  EXPECT_EQ(f.bad->length, 11u);
  EXPECT_EQ(f.bad->dropped_bytes, bad.size() + 8);
  EXPECT_EQ(f.frames, std::vector<std::string>{"ok"});
  EXPECT_EQ(f.reader.pending(), 0u);
}

TEST(FrameReader, TheLargestAllowedFramePasses) {
  Feed f;
  f.push(frame(std::string(10, 'm')), 10);
  EXPECT_FALSE(f.bad);
  EXPECT_EQ(f.frames.size(), 1u);
}

TEST(FrameReader, AHeaderAloneDoesNotAllocateWhatItAnnounces) {
  FrameReader r(16);
  const std::string header = frame(std::string(1 << 20, 'h')).substr(0, 4);
  auto room = r.room();
  std::memcpy(room.data(), header.data(), 4);
  r.received(4);
  EXPECT_FALSE(r.take_frames(16u << 20, [](auto) {}));
  EXPECT_EQ(r.capacity(), 16u);
}

TEST(FrameReader, GrowsNoFurtherThanTheFrontFrameNeedsAndShrinksAfter) {
  Feed f(16);
  const std::string big = frame(std::string(100, 'g'));
  f.push(big.substr(0, 99), 1000, 16);
  EXPECT_LE(f.reader.capacity(), big.size());
  EXPECT_GE(f.reader.capacity(), 99u);
  f.push(big.substr(99), 1000);
  EXPECT_EQ(f.frames.size(), 1u);
  EXPECT_EQ(f.reader.capacity(), 0u);  // shrink() after the frame: memory back
}

}  // namespace
}  // namespace relay
