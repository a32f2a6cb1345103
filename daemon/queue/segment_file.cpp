#include "segment_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "unique_fd.hpp"

namespace relay::segment_file {

namespace {

constexpr char kMagic[8] = {'R', 'E', 'L', 'A', 'Y', 'S', 'E', 'G'};
// An entry's tag: the low bits of first_id, mixed so that zeroed or never-written bytes (tag 0)
// do not pass for the entries of the segment starting at id 0.
constexpr std::uint32_t kTagMix = 0x5e6c0de5;
std::uint32_t tag_of(std::uint64_t first_id) noexcept { return static_cast<std::uint32_t>(first_id) ^ kTagMix; }

void put32(std::byte* at, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<std::byte>(v >> (8 * i));
}
void put64(std::byte* at, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) at[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint32_t get32(const std::byte* at) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{std::to_integer<std::uint8_t>(at[i])} << (8 * i);
  return v;
}
std::uint64_t get64(const std::byte* at) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{std::to_integer<std::uint8_t>(at[i])} << (8 * i);
  return v;
}

std::uint32_t crc(std::uint32_t seed, const std::byte* p, std::size_t n) noexcept {
  return static_cast<std::uint32_t>(crc32_z(seed, reinterpret_cast<const Bytef*>(p), n));
}

// Header: magic[8], version u32, capacity u32, first_id u64, crc u32 of the 24 bytes before it.
constexpr std::size_t kHeaderCrcAt = 24;

// Entries grow down from the end of the data area.
std::byte* entry(const Segment& seg, std::uint32_t index) noexcept {
  return seg.data + seg.capacity - (std::size_t{index} + 1) * kEntryBytes;
}
std::uint32_t max_entries(const Segment& seg, std::uint32_t record_bytes) noexcept {
  return (seg.capacity - record_bytes) / kEntryBytes;
}

// The checksum of one batch: which segment (first_id), where it ends (count, bytes), its bytes.
std::uint32_t batch_crc(std::uint64_t first_id, const std::byte* data, Committed from, Committed to) noexcept {
  std::byte meta[16];
  put64(meta, first_id);
  put32(meta + 8, to.count);
  put32(meta + 12, to.bytes);
  const std::uint32_t c = crc(static_cast<std::uint32_t>(crc32_z(0, Z_NULL, 0)), meta, sizeof meta);
  return crc(c, data + from.bytes, to.bytes - from.bytes);
}

bool map_fd(int fd, std::size_t size, Segment& out, std::string& error) {
  void* mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    error = std::string("mmap: ") + std::strerror(errno);
    return false;
  }
  out.file = static_cast<std::byte*>(mem);
  out.data = out.file + kHeaderBytes;
  out.capacity = static_cast<std::uint32_t>(size - kHeaderBytes);
  return true;
}

}  // namespace

bool create(const std::string& path, std::size_t capacity, Segment& out, std::string& error) {
  const UniqueFd fd{::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)};
  if (fd.get() < 0) {
    error = std::string("open: ") + std::strerror(errno);
    return false;
  }
  const std::size_t size = file_bytes(capacity);
  // posix_fallocate reserves the blocks: a disk that cannot hold the segment fails here, where
  // the producer can count a drop, instead of as a SIGBUS when a page is first written.
  if (const int rc = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size)); rc != 0) {
    error = std::string("posix_fallocate: ") + std::strerror(rc);
    return false;
  }
  if (!map_fd(fd.get(), size, out, error)) return false;
  std::memset(out.file, 0, kHeaderBytes);  // no first_id yet: nothing in it is ever recovered
  return true;
}

bool open(const std::string& path, Segment& out, std::string& error) {
  const UniqueFd fd{::open(path.c_str(), O_RDWR | O_CLOEXEC)};
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) {
    error = std::strerror(errno);
    return false;
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size <= kHeaderBytes || size - kHeaderBytes > UINT32_MAX) {
    error = "size " + std::to_string(size) + " is not a segment file's";
    return false;
  }
  return map_fd(fd.get(), size, out, error);
}

void unmap(Segment& seg) noexcept {
  if (seg.file != nullptr) ::munmap(seg.file, file_bytes(seg.capacity));
  seg.file = nullptr;
  seg.data = nullptr;
}

void stamp(Segment& seg) noexcept {
  std::byte* h = seg.file;
  std::memcpy(h, kMagic, sizeof kMagic);
  put32(h + 8, kVersion);
  put32(h + 12, seg.capacity);
  put64(h + 16, seg.first_id);
  put32(h + kHeaderCrcAt, crc(0, h, kHeaderCrcAt));
}

void commit(Segment& seg, std::uint32_t index, Committed from, Committed to) noexcept {
  std::byte* e = entry(seg, index);
  put32(e, to.count);
  put32(e + 4, to.bytes);
  put32(e + 8, batch_crc(seg.first_id, seg.data, from, to));
  put32(e + 12, tag_of(seg.first_id));
}

Contents read(const Segment& seg) {
  Contents c;
  const std::byte* h = seg.file;
  if (std::memcmp(h, kMagic, sizeof kMagic) != 0) {
    c.problem = "no segment header";
    return c;
  }
  if (get32(h + kHeaderCrcAt) != crc(0, h, kHeaderCrcAt) || get32(h + 8) != kVersion || get32(h + 12) != seg.capacity) {
    c.problem = "damaged header (checksum, version or size)";
    return c;
  }
  c.valid_header = true;
  c.first_id = get64(h + 16);
  const std::uint32_t tag = tag_of(c.first_id);
  std::uint32_t i = 0;
  for (; i < max_entries(seg, c.good.bytes); ++i) {
    const std::byte* e = entry(seg, i);
    const Committed to{get32(e), get32(e + 4)};
    if (get32(e + 12) != tag || to.count <= c.good.count) break;  // the end of this use's table
    const bool sane = to.bytes > c.good.bytes && to.bytes <= seg.capacity - (i + 1) * kEntryBytes;
    if (!sane || get32(e + 8) != batch_crc(c.first_id, seg.data, c.good, to)) {
      c.problem = "batch " + std::to_string(i) + " fails its checksum";
      break;
    }
    c.good = to;
  }
  c.good_entries = i;
  if (c.problem.empty()) return c;
  // What the bad entry and the entries after it with this use's tag claimed: lost to corruption.
  // Each must still look like an entry (growing counts, at least 4 bytes a record, clear of the
  // records it claims), so a damaged one cannot claim more than its bytes could hold.
  Committed claimed = c.good;
  for (std::uint32_t j = i; j < max_entries(seg, claimed.bytes); ++j) {
    const std::byte* e = entry(seg, j);
    const Committed to{get32(e), get32(e + 4)};
    const bool plausible = get32(e + 12) == tag && to.count > claimed.count && to.bytes > claimed.bytes &&
                           to.bytes <= seg.capacity - (j + 1) * kEntryBytes &&
                           to.count - claimed.count <= (to.bytes - claimed.bytes) / kRecordHeader;
    if (!plausible) break;
    claimed = to;
  }
  c.torn_messages = claimed.count - c.good.count;
  return c;
}

// The bad entry and every later one of this use: zeroed, so none is read (or counted) again.
void truncate(Segment& seg, std::uint32_t good_entries) noexcept {
  const std::uint32_t tag = tag_of(get64(seg.file + 16));
  for (std::uint32_t j = good_entries; j < max_entries(seg, 0); ++j) {
    std::byte* e = entry(seg, j);
    if (get32(e + 12) != tag) break;
    std::memset(e, 0, kEntryBytes);
  }
}

// Only dirty pages are written, so the whole mapping can be named: records from the start,
// entries from the end, and nothing to write in between.
int sync(const Segment& seg) noexcept { return ::msync(seg.file, file_bytes(seg.capacity), MS_SYNC) == 0 ? 0 : errno; }

void evict(const Segment& seg) noexcept { ::madvise(seg.file, file_bytes(seg.capacity), MADV_DONTNEED); }

void prefetch(const Segment& seg) noexcept { ::madvise(seg.file, file_bytes(seg.capacity), MADV_WILLNEED); }

}  // namespace relay::segment_file
