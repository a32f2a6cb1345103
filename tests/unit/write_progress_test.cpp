// Unit tests of WriteProgress: how far a destination's writes got. A write may stop anywhere;
// the peer must still get every framed message exactly once and whole.
#include "write_progress.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "egress_test_util.hpp"
#include "frame_batch.hpp"

namespace relay {
namespace {

using test::flatten;
using test::Records;
using test::wire;

// Three messages framed as 10, 20 and 30 bytes, the first starting at 0.
constexpr std::array<std::size_t, 3> kEnds{10, 30, 60};
// The same last two, when 5 bytes of the 20-byte one are already on the wire: ends still count
// from its first byte.
constexpr std::array<std::size_t, 2> kEndsAfterCut{20, 50};

std::string text(std::span<const char> s) { return {s.data(), s.size()}; }

TEST(WriteProgress, WriteEndingOnAMessageBoundaryLeavesNothingPartial) {
  WriteProgress one;
  EXPECT_EQ(one.account(10, kEnds), 1u);
  EXPECT_EQ(one.partial(), 0u);
  EXPECT_FALSE(one.mid_message());
  WriteProgress two;
  EXPECT_EQ(two.account(30, kEnds), 2u);
  EXPECT_EQ(two.partial(), 0u);
}

TEST(WriteProgress, WriteEndingInsideAMessageKeepsItsWrittenPart) {
  WriteProgress p;
  EXPECT_EQ(p.account(15, kEnds), 1u);
  EXPECT_EQ(p.partial(), 5u);
  EXPECT_TRUE(p.mid_message());
}

TEST(WriteProgress, WriteInsideThePartialFirstMessageAddsToIt) {
  WriteProgress p;
  ASSERT_EQ(p.account(15, kEnds), 1u);  // 5 bytes of the 20-byte message
  EXPECT_EQ(p.account(3, kEndsAfterCut), 0u);
  EXPECT_EQ(p.partial(), 8u);
  EXPECT_EQ(p.account(12, kEndsAfterCut), 1u) << "8 + 12 bytes complete the 20-byte message";
  EXPECT_EQ(p.partial(), 0u);
}

TEST(WriteProgress, ZeroBytesChangeNothing) {
  WriteProgress p;
  EXPECT_EQ(p.account(0, kEnds), 0u);
  EXPECT_EQ(p.partial(), 0u);
  ASSERT_EQ(p.account(15, kEnds), 1u);
  EXPECT_EQ(p.account(0, kEndsAfterCut), 0u);
  EXPECT_EQ(p.partial(), 5u);
}

TEST(WriteProgress, WritingEverythingCompletesEveryMessage) {
  WriteProgress fresh;
  EXPECT_EQ(fresh.account(60, kEnds), 3u);
  EXPECT_EQ(fresh.partial(), 0u);
  WriteProgress cut;
  ASSERT_EQ(cut.account(15, kEnds), 1u);
  EXPECT_EQ(cut.account(45, kEndsAfterCut), 2u) << "the rest of the cut message and the last one";
  EXPECT_EQ(cut.partial(), 0u);
}

// ---- a connection that takes a few bytes at a time ----

std::vector<std::string> stream_payloads() {
  std::vector<std::string> p;
  for (int i = 0; i < 40; ++i) p.push_back("metric.m" + std::to_string(i) + " 42" + (i % 4 ? "\n" : ""));
  p.push_back(std::string(3000, 'B'));  // sent from queue memory, not staged
  p.push_back("x");
  p.push_back(std::string(FrameBatch::kCopyBelow, 'e'));
  for (int i = 0; i < 20; ++i)
    p.push_back(std::string(static_cast<std::size_t>(1 + 37 * i % 300), static_cast<char>('a' + i % 26)));
  return p;
}

struct Streamed {
  std::string bytes;     // what the peer received, in order
  std::size_t cuts = 0;  // writes that stopped inside a message
};

// Frames from the cursor on, skipping partial(), "writes" the next accepted size (as a
// non-blocking writev that the kernel cut short), and moves the cursor by what account() says.
Streamed stream(Framing f, const Records& recs, std::span<const std::size_t> accepted) {
  const auto batch = std::make_unique<FrameBatch>();
  const std::span<const MessageView> views = recs.views();
  WriteProgress p;
  Streamed out;
  std::size_t at = 0;
  for (std::size_t w = 0; at < views.size() && w < 100'000; ++w) {
    batch->build(f, views.subspan(at), p.partial());
    const std::size_t n = std::min(accepted[w % accepted.size()], batch->bytes());
    out.bytes += flatten(*batch).substr(0, n);
    at += p.account(n, batch->ends());
    if (p.partial() > 0) ++out.cuts;
  }
  EXPECT_EQ(at, views.size()) << "the stream did not finish";
  EXPECT_EQ(p.partial(), 0u);
  return out;
}

TEST(WriteProgress, PartialWritesCarryOverSoEveryFrameGoesOutOnceAndWhole) {
  const auto payloads = stream_payloads();
  const Records recs(payloads);
  constexpr std::array<std::size_t, 8> kAccepted{1, 7, 0, 300, 4, 13, 2, 64};
  for (Framing f : {Framing::lp32le, Framing::lp32be, Framing::line, Framing::raw}) {
    SCOPED_TRACE(std::string(to_string(f)));
    const Streamed s = stream(f, recs, kAccepted);
    EXPECT_EQ(s.bytes, wire(f, payloads));
    EXPECT_GT(s.cuts, 10u) << "the writes should have stopped inside messages";
  }
}

// One byte at a time: every write but a message's last is a cut.
TEST(WriteProgress, OneByteWritesStillSpellTheStream) {
  const std::vector<std::string> payloads{"alpha", std::string(600, 'b'), "c\n", "delta"};
  const Records recs(payloads);
  constexpr std::array<std::size_t, 1> kOne{1};
  for (Framing f : {Framing::lp32le, Framing::lp32be, Framing::line, Framing::raw}) {
    SCOPED_TRACE(std::string(to_string(f)));
    const std::string expected = wire(f, payloads);
    const Streamed s = stream(f, recs, kOne);
    EXPECT_EQ(s.bytes, expected);
    EXPECT_EQ(s.cuts, expected.size() - payloads.size());
  }
}

// ---- a message kept aside when the eviction floor overtook it half-written ----

const std::string kFramed = "[one framed message]";  // its framing does not matter here

TEST(WriteProgress, CarriedMessageIsFinishedFromWhereTheWriteStopped) {
  WriteProgress p;
  const std::array<std::size_t, 1> ends{kFramed.size()};
  ASSERT_EQ(p.account(6, ends), 0u);
  p.carry(kFramed);
  EXPECT_EQ(p.partial(), 0u) << "the cursor's next message starts from its first byte";
  EXPECT_TRUE(p.carrying());
  EXPECT_TRUE(p.mid_message());
  EXPECT_EQ(text(p.carry_rest()), kFramed.substr(6));
  EXPECT_FALSE(p.carry_written(10));
  EXPECT_EQ(text(p.carry_rest()), kFramed.substr(16));
  EXPECT_TRUE(p.carry_written(kFramed.size() - 16));
  EXPECT_FALSE(p.carrying());
  EXPECT_FALSE(p.mid_message());
  EXPECT_TRUE(p.carry_rest().empty());
}

TEST(WriteProgress, CarriedMessageNotStartedGoesWhole) {
  WriteProgress p;
  p.carry(kFramed);
  EXPECT_EQ(text(p.carry_rest()), kFramed);
  EXPECT_TRUE(p.mid_message());
  EXPECT_FALSE(p.connection_lost()) << "nothing of it was on the wire";
  EXPECT_TRUE(p.carry_written(kFramed.size()));
}

TEST(WriteProgress, ConnectionLostReportsACutMessageAndForgetsIt) {
  WriteProgress p;
  EXPECT_FALSE(p.connection_lost()) << "nothing was written";
  ASSERT_EQ(p.account(15, kEnds), 1u);
  EXPECT_TRUE(p.connection_lost());
  EXPECT_EQ(p.partial(), 0u) << "the cut message goes again from its first byte";
  EXPECT_FALSE(p.mid_message());
  EXPECT_FALSE(p.connection_lost()) << "already reset";
  EXPECT_EQ(p.account(10, kEnds), 1u) << "a fresh connection counts from the message's start";
}

TEST(WriteProgress, ConnectionLostWhileCarryingResendsTheCarriedMessageWhole) {
  WriteProgress p;
  const std::array<std::size_t, 1> ends{kFramed.size()};
  ASSERT_EQ(p.account(6, ends), 0u);
  p.carry(kFramed);
  ASSERT_FALSE(p.carry_written(4));
  EXPECT_TRUE(p.connection_lost());
  EXPECT_TRUE(p.carrying()) << "the carried message is still owed to the peer";
  EXPECT_EQ(text(p.carry_rest()), kFramed);
  EXPECT_FALSE(p.connection_lost()) << "nothing of it is on the new connection yet";
}

}  // namespace
}  // namespace relay
