// The disk-backed queue (--data-dir, QUEUE.md "On disk"), in process: what one queue published
// a second queue on the same directory recovers, in order and byte for byte; ids go on from the
// recovered tail; a torn or flipped batch, a truncated file and a budget smaller than what is on
// disk are detected, counted and cut, and the rest is recovered; nothing is freed beyond the
// recorded positions; the directory is locked against a second queue; the files are reused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cursor.hpp"
#include "queue.hpp"
#include "segment_file.hpp"
#include "temp_dir.hpp"

namespace relay {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

constexpr std::size_t kSeg = 64 * 1024;

QueueConfig durable(const std::string& dir, std::size_t disk_segments = 64) {
  QueueConfig c;
  c.max_queue_bytes = 4 * kSeg;
  c.segment_bytes = kSeg;
  c.max_message = 1000;
  c.max_cursors = 4;
  c.data_dir = dir;
  c.max_disk_bytes = disk_segments * segment_file::file_bytes(kSeg);
  return c;
}

std::string payload(std::uint64_t i) { return "message-" + std::to_string(i) + std::string(i % 50, '.'); }

// Appends [from, to), publishing every `batch` messages.
void append(Queue& q, std::uint64_t from, std::uint64_t to, std::uint64_t batch = 7) {
  for (std::uint64_t i = from; i < to; ++i) {
    const std::string p = payload(i);
    ASSERT_EQ(q.append(std::as_bytes(std::span(p)), 1), AppendStatus::ok) << i;
    if ((i + 1) % batch == 0) q.publish();
  }
  q.publish();
}

// Every message from the head on, as text.
std::vector<std::string> read_all(Queue& q) {
  Cursor c(q, StartAt::head);
  std::vector<std::string> out;
  std::vector<MessageView> views(256);
  for (std::size_t n; (n = c.peek(views)) > 0;) {
    for (std::size_t i = 0; i < n; ++i)
      out.emplace_back(reinterpret_cast<const char*>(views[i].payload), views[i].size);
    c.advance(std::span(views).first(n));
  }
  return out;
}

std::vector<std::string> expected(std::uint64_t from, std::uint64_t to) {
  std::vector<std::string> v;
  for (std::uint64_t i = from; i < to; ++i) v.push_back(payload(i));
  return v;
}

std::vector<fs::path> segment_files(const TempDir& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename().string().starts_with("seg-")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The file whose header says it starts at the highest id: the one written last.
fs::path newest_file(const TempDir& dir) {
  fs::path best;
  std::uint64_t best_id = 0;
  for (const auto& p : segment_files(dir)) {
    std::ifstream f(p, std::ios::binary);
    char h[24];
    f.read(h, sizeof h);
    std::uint64_t id = 0;
    for (int i = 0; i < 8; ++i) id |= std::uint64_t{static_cast<unsigned char>(h[16 + i])} << (8 * i);
    if (best.empty() || id >= best_id) best = p, best_id = id;
  }
  return best;
}

void flip_byte(const fs::path& file, std::size_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST(DurableQueue, RecoversEverythingPublishedInOrder) {
  TempDir dir("durable-queue");
  constexpr std::uint64_t kN = 20000;  // about 14 segments
  {
    Queue q(durable(dir.path()));
    append(q, 0, kN);
  }
  Queue again(durable(dir.path()));
  const RecoveryReport& r = again.recovery();
  EXPECT_EQ(r.head, 0u);
  EXPECT_EQ(r.tail, kN);
  EXPECT_EQ(r.messages, kN);
  EXPECT_EQ(r.corrupt_messages, 0u);
  EXPECT_GT(r.segments, 5u);
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(again.tail(), kN);
  EXPECT_EQ(read_all(again), expected(0, kN));
}

TEST(DurableQueue, IdsGoOnFromTheRecoveredTail) {
  TempDir dir("durable-queue");
  {
    Queue q(durable(dir.path()));
    append(q, 0, 1000);
  }
  {
    Queue q(durable(dir.path()));
    append(q, 1000, 3000);
    EXPECT_EQ(q.tail(), 3000u);
  }
  Queue third(durable(dir.path()));
  EXPECT_EQ(third.recovery().messages, 3000u);
  EXPECT_EQ(read_all(third), expected(0, 3000));
}

TEST(DurableQueue, OneMessageBatchesFillSegmentsAndNotJustTheirTables) {
  TempDir dir("durable-queue");
  {
    Queue q(durable(dir.path()));
    append(q, 0, 3000, 1);  // a trickle: one message per publish
  }
  Queue again(durable(dir.path()));
  EXPECT_EQ(read_all(again), expected(0, 3000));
  // 3000 records of about 40 bytes plus 16-byte entries: under three 64 KiB segments.
  EXPECT_LE(again.recovery().segments, 3u);
}

TEST(DurableQueue, AFlippedByteCutsItsBatchAndIsCountedOnce) {
  TempDir dir("durable-queue");
  constexpr std::uint64_t kN = 700;  // one segment, 100 batches of 7
  {
    Queue q(durable(dir.path()));
    append(q, 0, kN);
  }
  // A byte inside the records of the 51st batch (records start after the 4 KiB header).
  std::size_t offset = segment_file::kHeaderBytes;
  for (std::uint64_t i = 0; i < 350; ++i) offset += 4 + payload(i).size();
  flip_byte(newest_file(dir), offset + 6);
  {
    Queue q(durable(dir.path()));
    const RecoveryReport& r = q.recovery();
    EXPECT_EQ(r.tail, 350u) << "recovery stops at the first batch that fails its checksum";
    EXPECT_EQ(r.corrupt_messages, kN - 350) << "what the bad entry and those after it claimed";
    EXPECT_EQ(r.truncated_segments, 1u);
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_NE(r.problems[0].find("fails its checksum"), std::string::npos) << r.problems[0];
    EXPECT_EQ(read_all(q), expected(0, 350));
    append(q, 350, 400);  // the lost ids are given again, to new messages
  }
  Queue third(durable(dir.path()));
  EXPECT_EQ(third.recovery().corrupt_messages, 0u) << "the cut table must not be counted again";
  EXPECT_EQ(read_all(third), expected(0, 400));
}

TEST(DurableQueue, ATruncatedFileIsLeftAndTheNewestRunRecovered) {
  TempDir dir("durable-queue");
  constexpr std::uint64_t kN = 20000;
  {
    Queue q(durable(dir.path()));
    append(q, 0, kN);
  }
  const auto files = segment_files(dir);
  ASSERT_GT(files.size(), 5u);
  fs::resize_file(files[2], 100);  // the third segment: ids somewhere in the middle
  Queue again(durable(dir.path()));
  const RecoveryReport& r = again.recovery();
  EXPECT_EQ(r.tail, kN);
  EXPECT_GT(r.head, 0u) << "the run before the missing segment cannot be joined to the newest";
  EXPECT_GT(r.discarded_messages, 0u) << "the segments before the gap are valid, and counted";
  ASSERT_FALSE(r.problems.empty());
  EXPECT_EQ(read_all(again), expected(r.head, kN));
}

TEST(DurableQueue, ASmallerDiskBudgetKeepsTheNewestSegments) {
  TempDir dir("durable-queue");
  constexpr std::uint64_t kN = 20000;
  {
    Queue q(durable(dir.path()));
    append(q, 0, kN);
  }
  Queue small(durable(dir.path(), 6));
  const RecoveryReport& r = small.recovery();
  EXPECT_EQ(r.segments, 5u) << "one segment of six is kept to write into";
  EXPECT_EQ(r.tail, kN);
  EXPECT_EQ(r.discarded_messages, r.head);
  EXPECT_EQ(read_all(small), expected(r.head, kN));
}

TEST(DurableQueue, NothingIsFreedBeyondTheRecordedPositions) {
  TempDir dir("durable-queue");
  Queue q(durable(dir.path()));
  append(q, 0, 5000);  // several segments, no cursor
  q.reclaim();
  EXPECT_EQ(q.stats().head, 0u) << "no position recorded yet: everything is kept";
  q.set_checkpoint(2000);
  q.reclaim();
  const auto s = q.stats();
  EXPECT_GT(s.head, 0u);
  EXPECT_LE(s.head, 2000u) << "the segment holding message 2000 stays";
  q.set_checkpoint(5000);
  q.reclaim();
  EXPECT_GT(q.stats().head, 2000u);
}

TEST(DurableQueue, FreedFilesAreReusedNotMultiplied) {
  TempDir dir("durable-queue");
  Queue q(durable(dir.path(), 8));
  Cursor c(q, StartAt::head);
  std::vector<MessageView> views(256);
  for (std::uint64_t round = 0; round < 20; ++round) {
    append(q, round * 2000, (round + 1) * 2000);
    for (std::size_t n; (n = c.peek(views)) > 0;) c.advance(std::span(views).first(n));
    q.set_checkpoint(c.id());
    q.reclaim();
  }
  EXPECT_LE(segment_files(dir).size(), 8u);
  EXPECT_EQ(q.stats().max_disk_bytes, 8 * segment_file::file_bytes(kSeg));
}

TEST(DurableQueue, ASecondQueueOnTheDirectoryIsRefused) {
  TempDir dir("durable-queue");
  Queue q(durable(dir.path()));
  try {
    Queue second(durable(dir.path()));
    FAIL() << "two queues on one data directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("another relayd uses this data directory"), std::string::npos) << e.what();
  }
}

TEST(DurableQueue, SegmentsOfAnotherSizeAreRefusedNamingTheSetting) {
  TempDir dir("durable-queue");
  {
    Queue q(durable(dir.path()));
    append(q, 0, 10);
  }
  QueueConfig bigger = durable(dir.path());
  bigger.segment_bytes = 2 * kSeg;
  try {
    Queue q(bigger);
    FAIL() << "segments of another size were taken";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--max-message-size"), std::string::npos) << e.what();
  }
}

TEST(DurableQueue, SyncWritesBackWithoutError) {
  TempDir dir("durable-queue");
  Queue q(durable(dir.path()));
  append(q, 0, 3000);
  EXPECT_EQ(q.sync_to_disk(), 0);
  EXPECT_EQ(q.stats().sync_errors, 0u);
  q.evict_cold();  // nothing to check but that it does not fault
  EXPECT_EQ(read_all(q), expected(0, 3000));
}

}  // namespace
}  // namespace relay
