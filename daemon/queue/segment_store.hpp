// segment_store: the data directory (--data-dir) — its lock, its segment files
// (segment_file.hpp), and what start-up recovers from them (QUEUE.md "Recovery").
//
// Files are named seg-NNNNNNNN.dat by the order they were made; a file is reused for another
// segment once the reclaimer has freed it, so the directory holds at most the disk budget's
// number of files. Which messages a file holds is in its header (first_id), not in its name.
//
// Thread: construction and recover() at start-up (one thread); create() on the producer thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "log_limiter.hpp"
#include "segment.hpp"

namespace relay {

// What start-up found in the data directory; logged once and kept for the statistics.
struct RecoveryReport {
  std::size_t files = 0;               // segment files read
  std::size_t segments = 0;            // segments the queue resumes with
  std::uint64_t head = 0;              // first id recovered (= tail when nothing was)
  std::uint64_t tail = 0;              // the id the next message gets
  std::uint64_t messages = 0;          // messages recovered: tail - head
  std::uint64_t corrupt_messages = 0;  // claimed by batches that failed their checksum
  // Valid, but older than a gap before the newest run of segments (freed long ago and not yet
  // reused, or cut off by a lost segment), or over the budget. Whether a destination misses any
  // is told by its recorded position (relay.cpp resume_position).
  std::uint64_t discarded_messages = 0;
  std::size_t truncated_segments = 0;  // segments whose table was cut after a bad batch
  std::vector<std::string> problems;   // one line per file with a fault
};

struct Recovery {
  std::vector<std::unique_ptr<Segment>> chain;  // oldest first, ids contiguous, `committed` set
  std::vector<std::unique_ptr<Segment>> spare;  // files holding nothing to resume: reused first
  RecoveryReport report;
};

class SegmentStore {
 public:
  // Creates `dir` (mode 0700) when missing and takes its lock. Throws std::runtime_error naming
  // the directory and the reason (unwritable, locked by another relayd).
  SegmentStore(std::string dir, std::size_t capacity);
  ~SegmentStore();
  SegmentStore(const SegmentStore&) = delete;
  SegmentStore& operator=(const SegmentStore&) = delete;

  // Start-up, before any thread runs: every segment file read and checked. The chain is the
  // newest run of contiguous ids; torn batches are cut off and counted; at most `max_segments`
  // - 1 segments are kept (one more is needed to write into). Throws std::runtime_error when
  // the files were made for another segment size.
  Recovery recover(std::size_t max_segments);
  // Producer: a segment in a new file, or nullptr when none can be made (the reason is logged,
  // at most once a minute).
  std::unique_ptr<Segment> create();

  const std::string& dir() const noexcept { return dir_; }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  std::string path_of(std::size_t index) const;

  std::string dir_;
  std::size_t capacity_;
  std::size_t next_index_ = 0;  // the next new file's number
  int lock_fd_ = -1;
  LogLimiter error_log_{60'000'000'000};  // a failing disk: one line a minute
};

}  // namespace relay
