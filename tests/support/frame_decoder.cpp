#include "frame_decoder.hpp"

#include <cstring>

namespace relay::test {

bool FrameDecoder::next(std::string_view& out) {
  if (failed_) return false;
  return framing_ == Framing::line ? next_line(out) : next_length_prefixed(out);
}

bool FrameDecoder::next_length_prefixed(std::string_view& out) {
  if (pending() < 4) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  const bool little = framing_ == Framing::lp32le;
  std::uint32_t len = 0;
  for (int i = 0; i < 4; ++i) {
    const int shift = little ? 8 * i : 8 * (3 - i);
    len |= static_cast<std::uint32_t>(p[i]) << shift;
  }
  if (len > max_frame_) {
    failed_ = true;
    return false;
  }
  if (pending() < 4 + std::size_t{len}) return false;
  out = std::string_view(buf_).substr(pos_ + 4, len);
  pos_ += 4 + std::size_t{len};
  return true;
}

bool FrameDecoder::next_line(std::string_view& out) {
  const auto* start = buf_.data() + pos_;
  const auto* nl = static_cast<const char*>(std::memchr(start, '\n', pending()));
  if (nl == nullptr) {
    // A line longer than any test message means the '\n' went missing.
    if (pending() > max_frame_) failed_ = true;
    return false;
  }
  out = std::string_view(start, static_cast<std::size_t>(nl - start));
  pos_ += out.size() + 1;
  return true;
}

// Drops consumed bytes; the remainder is at most one partial frame, so the move is cheap.
void FrameDecoder::compact() {
  buf_.erase(0, pos_);
  pos_ = 0;
}

}  // namespace relay::test
