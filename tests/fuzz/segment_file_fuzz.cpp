// Recovery of a segment file (daemon/queue/segment_file.hpp) against damage: the input builds a
// segment the way the producer does (batches of records, one commit entry each), then damages it
// (bytes xor'd at chosen offsets: a torn write, a bit flip, a header or an entry hit), then reads it
// back as start-up does. Whatever the damage, what recovery accepts must be a prefix of what was
// written, byte for byte and whole records (a crc32 collision aside), and cutting the table must
// make a second read accept the same and count nothing more.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "segment_file.hpp"

namespace {

using relay::Committed;
using relay::Segment;
namespace sf = relay::segment_file;

constexpr std::uint32_t kCapacity = 16384;

[[noreturn]] void fail() { std::abort(); }

struct Input {
  const std::uint8_t* p;
  std::size_t left;
  bool take(std::uint8_t& out) {
    if (left == 0) return false;
    out = *p++;
    --left;
    return true;
  }
};

// Appends records as Queue::append does and commits each batch; returns the entries written.
std::uint32_t build(Segment& seg, Input& in, Committed& done) {
  std::uint32_t entries = 0;
  std::uint8_t batch = 0;
  while (in.take(batch) && batch != 0xff) {
    const Committed from = done;
    for (int i = 0; i < (batch & 7) + 1; ++i) {
      std::uint8_t len = 0;
      if (!in.take(len)) break;
      if (done.bytes + 4 + len + sf::kEntryBytes * (entries + 1) > kCapacity) {
        done = from;  // full: the producer seals the segment; this batch goes to the next one
        return entries;
      }
      std::byte* at = seg.data + done.bytes;
      at[0] = std::byte{len};
      at[1] = at[2] = at[3] = std::byte{0};
      std::memset(at + 4, 'a' + (done.count % 26), len);
      done.bytes += 4 + len;
      done.count += 1;
    }
    if (done.count == from.count) break;
    sf::commit(seg, entries++, from, done);
  }
  return entries;
}

// Records laid end to end from the start must cover exactly `c`.
void check_tiling(const Segment& seg, Committed c) {
  std::uint32_t offset = 0;
  for (std::uint32_t i = 0; i < c.count; ++i) {
    if (offset + 4 > c.bytes) fail();
    std::uint32_t len = 0;
    std::memcpy(&len, seg.data + offset, 4);
    offset += 4 + len;
  }
  if (offset != c.bytes) fail();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::vector<std::byte> file(sf::file_bytes(kCapacity));
  Segment seg;
  seg.file = file.data();
  seg.data = file.data() + sf::kHeaderBytes;
  seg.capacity = kCapacity;
  seg.first_id = std::uint64_t{data[0]} << 8 | data[1];
  sf::stamp(seg);
  Input in{data + 2, size - 2};
  Committed written;
  build(seg, in, written);
  const std::vector<std::byte> original = file;
  std::size_t damages = 0;
  for (std::uint8_t hi = 0, lo = 0, x = 0; in.take(hi) && in.take(lo) && in.take(x); ++damages) {
    const std::size_t at = (std::size_t{hi} << 8 | lo) * 7 % file.size();
    file[at] ^= std::byte{x == 0 ? std::uint8_t{1} : x};
  }

  const sf::Contents c = sf::read(seg);
  if (damages == 0 && (!c.problem.empty() || c.good.count != written.count || c.good.bytes != written.bytes)) fail();
  if (!c.valid_header) return 0;
  if (c.first_id != seg.first_id && damages == 0) fail();
  if (c.good.count > written.count || c.good.bytes > written.bytes) fail();
  if (std::memcmp(file.data() + sf::kHeaderBytes, original.data() + sf::kHeaderBytes, c.good.bytes) != 0) fail();
  check_tiling(seg, c.good);
  if (c.problem.empty() && c.torn_messages != 0) fail();

  sf::truncate(seg, c.good_entries);
  const sf::Contents again = sf::read(seg);
  if (again.good.count != c.good.count || again.good.bytes != c.good.bytes || again.torn_messages != 0) fail();
  return 0;
}
