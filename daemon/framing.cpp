#include "framing.hpp"

namespace relay {

namespace {

const char kNewline = '\n';

bool ends_in_newline(const MessageView& m) noexcept {
  return m.size > 0 && static_cast<char>(m.payload[m.size - 1]) == '\n';
}

std::uint32_t to_big_endian(std::uint32_t v) noexcept { return __builtin_bswap32(v); }

}  // namespace

std::size_t framed_size(Framing f, const MessageView& m) noexcept {
  switch (f) {
    case Framing::lp32le:
    case Framing::lp32be: return kRecordHeader + m.size;
    case Framing::line: return m.size + (ends_in_newline(m) ? 0 : 1);
    case Framing::raw: return m.size;
  }
  return m.size;
}

// Appends a piece, merging it into the previous iovec when contiguous in memory.
bool FrameBatch::add(const void* base, std::size_t len) {
  if (len == 0) return true;
  if (count_ > 0) {
    iovec& last = iov_[count_ - 1];
    if (static_cast<const char*>(last.iov_base) + last.iov_len == base) {
      last.iov_len += len;
      bytes_ += len;
      return true;
    }
  }
  if (count_ == kMaxIov) return false;
  iov_[count_++] = iovec{const_cast<void*>(base), len};
  bytes_ += len;
  return true;
}

std::size_t FrameBatch::build(Framing f, std::span<const MessageView> msgs, std::size_t skip) {
  count_ = 0;
  bytes_ = 0;
  std::size_t n = 0;
  for (const MessageView& m : msgs) {
    // Every message needs at most two new iovecs; stop before one would be split.
    if (count_ + 2 > kMaxIov) break;
    switch (f) {
      case Framing::lp32le: add(m.record(), m.record_size()); break;
      case Framing::lp32be:
        be_headers_[n] = to_big_endian(m.size);
        add(&be_headers_[n], kRecordHeader);
        add(m.payload, m.size);
        break;
      case Framing::line:
        add(m.payload, m.size);
        if (!ends_in_newline(m)) add(&kNewline, 1);
        break;
      case Framing::raw: add(m.payload, m.size); break;
    }
    ++n;
  }
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
