// tcp_frame_fuzz: FrameReader (TCP ingest's lp32le decoding) against a reference decoder that
// sees the whole stream at once. However read() cuts the stream, the reader must pass on exactly
// the reference's frames in order, detect an oversized header in the read that completes it, and
// account for every byte: frames + dropped after the bad header (+ pending at the end) = every
// byte received. Its buffer must stay within what the frame at its front needs.
// Input: max payload (2 bytes LE), initial buffer (1 byte), a count k and k read sizes, then the
// stream.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "frame_reader.hpp"

namespace {

struct Frame {
  std::size_t at;  // offset of its payload in the stream
  std::size_t len;
};

struct Reference {
  std::vector<Frame> frames;
  std::optional<std::size_t> oversized_at;  // offset of the bad header
  std::size_t tail = 0;                     // bytes of an incomplete frame at the end
};

Reference decode(std::span<const std::byte> s, std::uint32_t max_payload) {
  Reference r;
  std::size_t pos = 0;
  while (s.size() - pos >= 4) {
    const std::uint32_t len = relay::load_le32(s.data() + pos);
    if (len > max_payload) {
      r.oversized_at = pos;
      return r;
    }
    if (s.size() - pos - 4 < len) break;
    r.frames.push_back({pos + 4, len});
    pos += 4 + len;
  }
  r.tail = s.size() - pos;
  return r;
}

[[noreturn]] void fail() { std::abort(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::uint32_t max_payload = data[0] | data[1] << 8;
  const std::size_t initial = data[2] % 64 + 1;  // small, so growth and shrinking get exercised
  const std::size_t k = data[3] % 16;
  std::size_t at = 4;
  std::vector<std::size_t> reads;
  for (; reads.size() < k && at < size; ++at) reads.push_back(data[at] + std::size_t{1});
  if (reads.empty()) reads.push_back(4096);
  const std::span<const std::byte> stream(reinterpret_cast<const std::byte*>(data + at), size - at);
  const Reference ref = decode(stream, max_payload);

  relay::FrameReader reader(initial);
  std::size_t received = 0;   // stream bytes handed to the reader
  std::size_t delivered = 0;  // frames passed on
  std::size_t framed_bytes = 0;
  for (std::size_t r = 0; received < stream.size(); ++r) {
    const std::size_t before = reader.capacity();
    const std::span<std::byte> room = reader.room();
    if (room.empty()) fail();  // a reader with no room would stall the connection
    // Memory follows what came: a growth at most doubles what is held, and never goes past
    // what the largest allowed frame needs — a header alone must not allocate what it announces.
    if (reader.capacity() != before && reader.capacity() > std::max(initial, 2 * reader.pending())) fail();
    if (reader.capacity() > std::max({initial, std::size_t{8}, std::size_t{4} + max_payload})) fail();
    const std::size_t n = std::min({reads[r % reads.size()], room.size(), stream.size() - received});
    std::memcpy(room.data(), stream.data() + received, n);
    reader.received(n);
    received += n;
    const auto bad = reader.take_frames(max_payload, [&](std::span<const std::byte> payload) {
      if (delivered >= ref.frames.size()) fail();
      const Frame& f = ref.frames[delivered++];
      if (payload.size() != f.len || std::memcmp(payload.data(), stream.data() + f.at, f.len) != 0) fail();
      framed_bytes += 4 + f.len;
    });
    if (bad) {
      // Detected in the read that completed the bad header, no sooner, no later.
      if (!ref.oversized_at || received < *ref.oversized_at + 4 || received - n >= *ref.oversized_at + 4) fail();
      if (bad->length != relay::load_le32(stream.data() + *ref.oversized_at)) fail();
      if (bad->dropped_bytes != received - *ref.oversized_at) fail();
      if (reader.pending() != 0) fail();
      if (delivered != ref.frames.size() || framed_bytes + bad->dropped_bytes != received) fail();
      return 0;  // the connection ends here
    }
    if (framed_bytes + reader.pending() != received) fail();
    reader.shrink();
  }
  if (ref.oversized_at || delivered != ref.frames.size() || reader.pending() != ref.tail) fail();
  return 0;
}
