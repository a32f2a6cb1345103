#include "frame_batch.hpp"

#include <algorithm>
#include <cstring>

#include "check.hpp"

namespace relay {

namespace {

const char kNewline = '\n';

bool ends_in_newline(const MessageView& m) noexcept {
  return m.size > 0 && static_cast<char>(m.payload[m.size - 1]) == '\n';
}

std::uint32_t to_big_endian(std::uint32_t v) noexcept { return __builtin_bswap32(v); }

}  // namespace

// Appends a piece, merging it into the previous iovec when contiguous in memory. The caller
// has checked that an iovec is free.
void FrameBatch::add(const void* base, std::size_t len) {
  if (len == 0) return;
  bytes_ += len;
  if (count_ > 0) {
    iovec& last = iov_[count_ - 1];
    if (static_cast<const char*>(last.iov_base) + last.iov_len == base) {
      last.iov_len += len;
      return;
    }
  }
  iov_[count_++] = iovec{const_cast<void*>(base), len};
}

// Copies a piece into the staging buffer (the caller has checked the room); consecutive staged
// pieces merge into one iovec.
void FrameBatch::stage(const void* base, std::size_t len) {
  std::byte* at = stage_.data() + staged_;
  std::memcpy(at, base, len);
  staged_ += len;
  add(at, len);
}

void FrameBatch::add_payload(const MessageView& m) {
  if (m.size < kCopyBelow) {
    stage(m.payload, m.size);
  } else {
    add(m.payload, m.size);
  }
}

// Frames one message whole, or nothing when the iovecs or the staging buffer would overflow.
std::size_t FrameBatch::framed_size(Framing f, const MessageView& m) noexcept {
  switch (f) {
    case Framing::lp32le:
    case Framing::lp32be: return m.record_size();
    case Framing::line: return m.size + (ends_in_newline(m) ? 0 : 1);
    case Framing::raw: return m.size;
  }
  return m.size;
}

void FrameBatch::append_framed(Framing f, const MessageView& m, std::string& out) {
  const auto* bytes = reinterpret_cast<const char*>(m.payload);
  if (f == Framing::lp32le || f == Framing::lp32be) {
    const std::uint32_t header = f == Framing::lp32le ? m.size : to_big_endian(m.size);  // a little-endian host
    out.append(reinterpret_cast<const char*>(&header), kRecordHeader);
  }
  out.append(bytes, m.size);
  if (f == Framing::line && !ends_in_newline(m)) out.push_back(kNewline);
}

bool FrameBatch::frame(Framing f, const MessageView& m) {
  // Every message needs at most two new iovecs and kRecordHeader + kCopyBelow staged bytes.
  if (count_ + 2 > kMaxIov || staged_ + kRecordHeader + kCopyBelow > kStageBytes) return false;
  switch (f) {
    case Framing::lp32le: add(m.record(), m.record_size()); break;
    case Framing::lp32be: {
      const std::uint32_t header = to_big_endian(m.size);
      stage(&header, kRecordHeader);
      add_payload(m);
      break;
    }
    case Framing::line:
      add_payload(m);
      if (!ends_in_newline(m)) stage(&kNewline, 1);
      break;
    case Framing::raw: add_payload(m); break;
  }
  return true;
}

std::size_t FrameBatch::build(Framing f, std::span<const MessageView> msgs, std::size_t skip) {
  count_ = 0;
  bytes_ = 0;
  staged_ = 0;
  const std::size_t limit = std::min(msgs.size(), kMaxMessages);
  std::size_t n = 0;
  for (; n < limit && frame(f, msgs[n]); ++n) ends_[n] = bytes_;
  framed_ = n;
  RELAY_ASSERT(n == 0 || skip < ends_[0], "the skipped part of the first message is shorter than it");
  trim_front(skip);
  return n;
}

void FrameBatch::trim_front(std::size_t skip) {
  std::size_t first = 0;
  while (skip > 0 && first < count_) {
    iovec& v = iov_[first];
    const std::size_t cut = skip < v.iov_len ? skip : v.iov_len;
    v.iov_base = static_cast<char*>(v.iov_base) + cut;
    v.iov_len -= cut;
    skip -= cut;
    bytes_ -= cut;
    if (v.iov_len == 0) ++first;
  }
  if (first == 0) return;
  for (std::size_t i = first; i < count_; ++i) iov_[i - first] = iov_[i];
  count_ -= first;
}

}  // namespace relay
