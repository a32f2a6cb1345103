// segment_file: one queue segment kept in a file of the data directory (--data-dir), mapped
// shared, so every record the producer copies in is in the page cache at once and survives a
// crash of relayd; what survives a power loss is what was synced (QUEUE.md "On disk").
//
// File layout (all integers little endian):
//
//   [0, 4096)     header: magic "RELAYSEG", version, data capacity, first_id, header crc
//   [4096, ...)   data area of `capacity` bytes:
//                   from its start, records as in memory, [u32 length][payload] ..., the lp32le
//                   wire format, so destinations still send straight from this memory;
//                   from its end, backwards, one 16-byte commit entry per publish() that added
//                   records: {count, bytes, crc, id_tag}: the segment's record count and byte
//                   count after that batch, crc32 (zlib) of first_id, count, bytes and the
//                   batch's record bytes, and the low 32 bits of first_id (mixed with a constant).
//                 The segment is full when the two meet, so a trickle of one-message batches
//                 costs 16 bytes each, not a whole segment per fixed number of batches.
//
// An entry whose id_tag differs from the header's first_id (left from the file's previous use)
// or whose count does not grow ends the table; an entry with the right tag whose crc does not
// match is a torn or corrupted batch: recovery stops there and counts what the entry (and any
// later one with the right tag) claimed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "segment.hpp"

namespace relay::segment_file {

inline constexpr std::size_t kHeaderBytes = 4096;
inline constexpr std::uint32_t kEntryBytes = 16;
inline constexpr std::uint32_t kVersion = 1;

// Bytes of a file whose data area holds `capacity` bytes.
constexpr std::size_t file_bytes(std::size_t capacity) noexcept { return kHeaderBytes + capacity; }

// Creates (or reuses) `path` at the size for `capacity`, reserves its blocks (so a full disk is
// an error here, not a SIGBUS on a later write) and maps it. Returns false with `error` set.
bool create(const std::string& path, std::size_t capacity, Segment& out, std::string& error);
// Maps an existing file; fills capacity and data from its size. Returns false with `error` set.
bool open(const std::string& path, Segment& out, std::string& error);
void unmap(Segment& seg) noexcept;

// Producer: a recycled or fresh segment is about to hold records from `seg.first_id` on.
void stamp(Segment& seg) noexcept;
// Producer: records [from.bytes, to.bytes) were published; writes commit entry `index` (the
// caller keeps (index + 1) * kEntryBytes free at the end of the data area).
void commit(Segment& seg, std::uint32_t index, Committed from, Committed to) noexcept;

// What a file holds, read at start-up.
struct Contents {
  bool valid_header = false;
  std::uint64_t first_id = 0;
  Committed good;                   // records that passed their checksums, from the start
  std::uint32_t good_entries = 0;   // commit entries they span
  std::uint64_t torn_messages = 0;  // claimed by entries that failed their checksum
  std::string problem;              // why the header or a batch was refused; empty when whole
};
Contents read(const Segment& seg);
// Cuts the table after its good entries, so a torn batch is counted once, not at every start.
void truncate(Segment& seg, std::uint32_t good_entries) noexcept;
// Writes back what changed in the segment's file and waits for the disk (msync MS_SYNC).
// Returns 0 or an errno.
int sync(const Segment& seg) noexcept;
// Drops the mapping's pages from relayd's memory; the page cache keeps them (and writes back
// those that are dirty), so a later read faults them in again from there or from the disk.
void evict(const Segment& seg) noexcept;
// Asks the kernel to read the segment's pages into the page cache now (MADV_WILLNEED), without
// waiting for them.
void prefetch(const Segment& seg) noexcept;

}  // namespace relay::segment_file
