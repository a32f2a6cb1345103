// Unit tests of the queue and cursors on one thread: order, ids, reclaim, skip-ahead, budget.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cursor.hpp"
#include "queue.hpp"

namespace relay {
namespace {

constexpr std::size_t kSeg = 4096;

QueueConfig small_config(std::size_t segments) {
  QueueConfig cfg;
  cfg.segment_bytes = kSeg;
  cfg.max_queue_bytes = segments * kSeg;
  cfg.max_message = 1000;
  cfg.max_cursors = 8;
  return cfg;
}

// "m<i>" followed by `pad` dots. Built by appending: GCC 12's -Wrestrict misfires on operator+ chains.
std::string label(std::uint64_t i, std::size_t pad = 0) {
  std::string s = "m";
  s += std::to_string(i);
  s.append(pad, '.');
  return s;
}

std::string text_of(const MessageView& m) { return {reinterpret_cast<const char*>(m.payload), m.size}; }

AppendStatus push(Queue& q, const std::string& s) {
  return q.append(std::as_bytes(std::span(s.data(), s.size())), 1'000'000'000);
}

// Appends messages "m<i>" for i in [from, to) and publishes.
void push_range(Queue& q, int from, int to, std::size_t pad = 0) {
  for (int i = from; i < to; ++i) ASSERT_EQ(push(q, label(i, pad)), AppendStatus::ok);
  q.publish();
}

// How many records label(from..., pad) fill one kSeg segment, laid end to end as segment.hpp says.
std::uint64_t records_fitting(std::uint64_t from, std::size_t pad) {
  std::size_t used = 0;
  std::uint64_t n = 0;
  while (used + kRecordHeader + label(from + n, pad).size() <= kSeg)
    used += kRecordHeader + label(from + n++, pad).size();
  return n;
}

std::vector<std::string> drain(Cursor& c, std::size_t max = 1'000'000) {
  std::vector<std::string> got;
  std::vector<MessageView> views(64);
  while (got.size() < max) {
    const std::size_t want = std::min(views.size(), max - got.size());
    const std::size_t n = c.peek(std::span(views.data(), want));
    if (n == 0) break;
    for (std::size_t i = 0; i < n; ++i) got.push_back(text_of(views[i]));
    c.advance(std::span(views).first(n));
  }
  return got;
}

TEST(Queue, MessagesArriveInOrderWithConsecutiveIds) {
  Queue q(small_config(8));
  Cursor c(q, StartAt::tail);
  EXPECT_EQ(c.id(), 0u);
  push_range(q, 0, 300, 20);  // crosses several segments
  EXPECT_EQ(q.tail(), 300u);
  EXPECT_EQ(c.lag(), 300u);
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(got[i], label(i, 20));
  EXPECT_EQ(c.id(), 300u);
  EXPECT_EQ(c.lag(), 0u);
}

TEST(Queue, UnpublishedMessagesAreInvisible) {
  Queue q(small_config(4));
  Cursor c(q, StartAt::tail);
  ASSERT_EQ(push(q, "hidden"), AppendStatus::ok);
  std::vector<MessageView> v(4);
  EXPECT_EQ(c.peek(v), 0u);
  q.publish();
  ASSERT_EQ(c.peek(v), 1u);
  EXPECT_EQ(text_of(v[0]), "hidden");
}

TEST(Queue, RecordsAreLp32leOnTheWire) {
  Queue q(small_config(4));
  Cursor c(q, StartAt::tail);
  push_range(q, 0, 2);
  std::vector<MessageView> v(2);
  ASSERT_EQ(c.peek(v), 2u);
  const auto* r = reinterpret_cast<const unsigned char*>(v[0].record());
  EXPECT_EQ(r[0], 2);  // "m0" has length 2, little endian
  EXPECT_EQ(r[1] | r[2] | r[3], 0);
  EXPECT_EQ(v[0].record() + v[0].record_size(), v[1].record());  // contiguous
}

TEST(Queue, ZeroLengthAndMaxSizeMessagesRoundTrip) {
  Queue q(small_config(4));
  Cursor c(q, StartAt::tail);
  ASSERT_EQ(push(q, ""), AppendStatus::ok);
  ASSERT_EQ(push(q, std::string(1000, 'z')), AppendStatus::ok);
  q.publish();
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "");
  EXPECT_EQ(got[1], std::string(1000, 'z'));
}

TEST(Queue, TailCursorSkipsHistoryOldestCursorGetsIt) {
  Queue q(small_config(8));
  push_range(q, 0, 10);
  Cursor at_tail(q, StartAt::tail);
  Cursor from_oldest(q, StartAt::head);  // nothing reclaimed yet: everything is still held
  push_range(q, 10, 12);
  EXPECT_EQ(drain(at_tail).size(), 2u);
  const auto all = drain(from_oldest);
  ASSERT_EQ(all.size(), 12u);
  EXPECT_EQ(all.front(), "m0");
}

TEST(Queue, ReclaimFreesExactlyWhatEveryCursorPassed) {
  Queue q(small_config(16));
  Cursor fast(q, StartAt::tail);
  Cursor slow(q, StartAt::tail);
  push_range(q, 0, 400, 40);  // ~46 bytes a record: ~89 per 4 KiB segment, 5 segments
  const std::size_t linked = q.stats().segments_in_use;
  ASSERT_GE(linked, 5u);
  drain(fast);
  auto r = q.reclaim();
  EXPECT_EQ(r.reclaim_point, 0u);  // slow has passed nothing
  EXPECT_EQ(r.segments_freed, 0u);
  drain(slow, 100);  // slow passes the first segment (~89 messages) but not the second
  r = q.reclaim();
  EXPECT_EQ(r.reclaim_point, 100u);
  EXPECT_EQ(r.segments_freed, 1u);
  // The reclaim moved the head to the second segment's first message: the first that did not fit.
  EXPECT_EQ(q.stats().head, records_fitting(0, 40));
  EXPECT_LE(q.stats().head, 100u);
  drain(slow);
  r = q.reclaim();
  EXPECT_EQ(r.reclaim_point, 400u);
  EXPECT_EQ(q.stats().segments_in_use, 1u);  // only the tail segment remains
  EXPECT_EQ(r.segments_freed, linked - 2);
}

TEST(Queue, WithoutCursorsEverythingBeforeTheTailSegmentIsFreed) {
  Queue q(small_config(16));
  push_range(q, 0, 400, 40);
  q.reclaim();
  EXPECT_EQ(q.stats().segments_in_use, 1u);
  Cursor late(q, StartAt::head);
  EXPECT_GE(late.id(), 300u);  // starts at the oldest message still held
  EXPECT_LE(late.id(), 400u);
}

TEST(Queue, FreedSegmentsAreReused) {
  Queue q(small_config(4));
  Cursor c(q, StartAt::tail);
  for (int round = 0; round < 50; ++round) {
    push_range(q, round * 100, round * 100 + 100, 40);
    ASSERT_EQ(drain(c).size(), 100u) << "round " << round;
    q.reclaim();
  }
  EXPECT_EQ(c.id(), 5000u);
  EXPECT_LE(q.stats().segments_in_use, 2u);
}

TEST(Queue, LaggingCursorIsMovedPastTheOldestDataAndCountsIt) {
  Queue q(small_config(16));
  int floors = 0;
  q.set_hooks([] {}, [&] { ++floors; });
  Cursor healthy(q, StartAt::tail);
  Cursor dead(q, StartAt::tail);
  int next = 0;
  std::uint64_t skipped = 0;
  std::uint64_t full = 0;
  // Push far more than the budget; the healthy cursor keeps up, the dead one never reads.
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 100; ++i, ++next) {
      if (push(q, label(next, 40)) == AppendStatus::full) ++full;
    }
    q.publish();
    drain(healthy);
    q.reclaim();                      // may raise the floor (in relayd this wakes the client thread)...
    skipped += dead.skip_to_floor();  // ...which moves the lagging cursor...
    q.reclaim();                      // ...so the next pass can free the memory
  }
  EXPECT_GT(floors, 0);
  EXPECT_GT(skipped, 0u);
  EXPECT_EQ(full, 0u) << "the producer must not drop while a cursor can be moved";
  EXPECT_EQ(healthy.id(), q.tail());
  // Everything the dead cursor did not skip is still readable, in order, ending at the tail.
  const auto rest = drain(dead);
  EXPECT_EQ(skipped + rest.size(), q.tail());
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back(), label(next - 1, 40));
  EXPECT_LE(q.stats().segments_in_use, 16u);
}

TEST(Queue, ProducerDropsWhenNothingCanBeReclaimed) {
  Queue q(small_config(4));
  int pressure = 0;
  q.set_hooks([&] { ++pressure; }, [] {});
  Cursor stuck(q, StartAt::tail);
  std::uint64_t ok = 0;
  std::uint64_t full = 0;
  for (int i = 0; i < 1000; ++i) {
    (push(q, std::string(100, 'a')) == AppendStatus::ok ? ok : full) += 1;
  }
  q.publish();
  EXPECT_GT(full, 0u);
  EXPECT_GT(pressure, 0);
  EXPECT_EQ(q.tail(), ok);  // ids stay gap-free: dropped messages get none
  EXPECT_LE(q.stats().segments_in_use, 4u);
}

TEST(Queue, BudgetNeverExceeded) {
  Queue q(small_config(8));
  Cursor c(q, StartAt::tail);
  for (int i = 0; i < 10000; ++i) (void)push(q, std::string(200, 'b'));
  q.publish();
  EXPECT_LE(q.stats().bytes_in_use, 8 * kSeg);
  EXPECT_EQ(q.stats().max_queue_bytes, 8 * kSeg);
}

TEST(Queue, CursorSlotsAreLimitedAndReturned) {
  Queue q(small_config(4));
  std::vector<std::unique_ptr<Cursor>> cs;
  for (int i = 0; i < 8; ++i) cs.push_back(std::make_unique<Cursor>(q, StartAt::tail));
  EXPECT_THROW(Cursor(q, StartAt::tail), std::length_error);
  cs.pop_back();
  EXPECT_NO_THROW(Cursor(q, StartAt::tail));
}

TEST(Queue, PendingSinceReportsOldestUnsentMessage) {
  Queue q(small_config(4));
  Cursor c(q, StartAt::tail);
  EXPECT_EQ(c.lag_since_ns(), 0);
  const std::string a = "a";
  ASSERT_EQ(q.append(std::as_bytes(std::span(a.data(), 1)), 5'000'000), AppendStatus::ok);
  ASSERT_EQ(q.append(std::as_bytes(std::span(a.data(), 1)), 9'000'000), AppendStatus::ok);
  q.publish();
  EXPECT_EQ(c.lag_since_ns(), 5'000'000);
  std::vector<MessageView> v(1);
  ASSERT_EQ(c.peek(v), 1u);
  c.advance(std::span(v).first(1));
  EXPECT_EQ(c.lag_since_ns(), 9'000'000);
}

// ---- segment boundaries, on segments of exactly four records ----

constexpr std::size_t kTinySeg = 256;
constexpr std::uint32_t kTinyPayload = 60;  // 64-byte records
constexpr std::uint64_t kPerSeg = kTinySeg / (kRecordHeader + kTinyPayload);
static_assert(kPerSeg * (kRecordHeader + kTinyPayload) == kTinySeg, "records must fill a segment exactly");

Queue tiny_queue() {
  return Queue(QueueConfig{
      .max_queue_bytes = 8 * kTinySeg, .segment_bytes = kTinySeg, .max_message = kTinyPayload, .max_cursors = 4});
}

// label(i) padded to exactly kTinyPayload bytes.
std::string fixed(std::uint64_t i) {
  std::string s = label(i);
  s.resize(kTinyPayload, '.');
  return s;
}

std::vector<std::string> fixed_range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::string> v;
  for (std::uint64_t i = from; i < to; ++i) v.push_back(fixed(i));
  return v;
}

void push_fixed(Queue& q, std::uint64_t from, std::uint64_t to) {
  for (const auto& s : fixed_range(from, to)) ASSERT_EQ(push(q, s), AppendStatus::ok);
  q.publish();
}

std::string next_message(Cursor& c) {
  std::vector<MessageView> v(1);
  return c.peek(v) == 1 ? text_of(v[0]) : "<nothing readable>";
}

// QUEUE.md "Position keys": a cursor that read a segment to its end before the successor was
// linked has the successor's first id but still holds the finished segment, and will read its
// `next`. Without the low bit of the position key the reclaimer took that segment for passed;
// the producer then reused it and the cursor read a reset header.
TEST(QueueRegression, CursorAtEndOfSealedSegmentKeepsItFromReclaim) {
  Queue q = tiny_queue();
  Cursor c(q, StartAt::tail);
  push_fixed(q, 0, kPerSeg);  // the first segment, full to its last byte, no successor yet
  ASSERT_EQ(drain(c), fixed_range(0, kPerSeg));
  ASSERT_EQ(c.id(), kPerSeg);
  push_fixed(q, kPerSeg, kPerSeg + 1);  // does not fit: links the successor, sealing the first
  ASSERT_EQ(q.stats().segments_in_use, 2u);

  const ReclaimResult r = q.reclaim();
  EXPECT_EQ(r.reclaim_point, kPerSeg);
  EXPECT_EQ(r.segments_freed, 0u) << "the segment the cursor still stands in was recycled";
  EXPECT_EQ(q.stats().segments_in_use, 2u);

  // A wrongly recycled segment would come back now as the third one (recycled segments go first).
  push_fixed(q, kPerSeg + 1, 2 * kPerSeg + 1);
  EXPECT_EQ(q.stats().segments_in_use, 3u);
  std::vector<MessageView> v(2);
  ASSERT_EQ(c.peek(v), 2u);
  EXPECT_EQ(text_of(v[0]), fixed(kPerSeg));
  EXPECT_EQ(text_of(v[1]), fixed(kPerSeg + 1));

  c.advance(std::span(v).first(1));  // into the successor: the finished segment is no longer held
  EXPECT_EQ(c.id(), kPerSeg + 1);
  EXPECT_EQ(q.reclaim().segments_freed, 1u);
  EXPECT_EQ(q.stats().segments_in_use, 2u);
  EXPECT_EQ(drain(c), fixed_range(kPerSeg + 1, 2 * kPerSeg + 1));
}

// The other side of the key: when the successor is already linked, advance() steps into it at
// once, so the finished segment is freed without waiting for the cursor's next read.
TEST(QueueRegression, CursorPassingTheEndOfALinkedSegmentReleasesIt) {
  Queue q = tiny_queue();
  Cursor c(q, StartAt::tail);
  push_fixed(q, 0, kPerSeg + 1);
  ASSERT_EQ(drain(c, kPerSeg), fixed_range(0, kPerSeg));
  EXPECT_EQ(q.reclaim().segments_freed, 1u);
  EXPECT_EQ(q.stats().segments_in_use, 1u);
  EXPECT_EQ(next_message(c), fixed(kPerSeg));
}

// advance() gets views that peek() collected across two or three segments; it must land on the
// message after the last one, in the right segment (reclaim frees exactly the segments passed).
TEST(Queue, AdvanceAcrossSegmentBoundariesLandsOnTheNextMessage) {
  constexpr std::uint64_t kStart = 1;  // mid-segment, so no boundary coincides with the start
  for (const std::uint64_t passed :
       {kPerSeg - 1, kPerSeg, kPerSeg + 1, 2 * kPerSeg - 1, 2 * kPerSeg, 2 * kPerSeg + 2, 3 * kPerSeg - 1}) {
    SCOPED_TRACE("passed " + std::to_string(passed));
    Queue q = tiny_queue();
    Cursor c(q, StartAt::tail);
    push_fixed(q, 0, 4 * kPerSeg);
    ASSERT_EQ(drain(c, kStart).size(), kStart);
    std::vector<MessageView> v(passed);
    ASSERT_EQ(c.peek(v), passed);
    EXPECT_EQ(text_of(v.back()), fixed(kStart + passed - 1));
    c.advance(v);
    const std::uint64_t at = kStart + passed;
    EXPECT_EQ(c.id(), at);
    EXPECT_EQ(c.lag(), 4 * kPerSeg - at);
    EXPECT_EQ(next_message(c), fixed(at));
    EXPECT_EQ(q.reclaim().segments_freed, at / kPerSeg);
    EXPECT_EQ(drain(c), fixed_range(at, 4 * kPerSeg));
  }
}

}  // namespace
}  // namespace relay
