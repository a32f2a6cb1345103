// frame_decoder: turns a TCP byte stream in one framing back into messages.
//
// A length prefix above `max_frame` is a framing error: in these tests no message is that big,
// so such a prefix means the stream lost sync (e.g. a reconnect resumed mid-frame).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "framing.hpp"

namespace relay::test {

class FrameDecoder {
 public:
  explicit FrameDecoder(Framing framing, std::size_t max_frame = 1u << 20) : framing_(framing), max_frame_(max_frame) {}

  // Appends `bytes` and calls on_message(std::string_view) for every whole message (raw: every
  // chunk as it came). Returns false on a framing error; the decoder is then unusable until reset().
  template <typename OnMessage>
  bool feed(std::string_view bytes, OnMessage&& on_message);

  // Bytes of an incomplete frame held back; non-zero at connection close means a cut frame.
  std::size_t pending() const noexcept { return buf_.size() - pos_; }
  void reset() noexcept {
    buf_.clear();
    pos_ = 0;
    failed_ = false;
  }

 private:
  // The next whole frame's payload at pos_, advancing pos_; false when none is complete yet.
  bool next(std::string_view& out);
  bool next_length_prefixed(std::string_view& out);
  bool next_line(std::string_view& out);
  void compact();

  Framing framing_;
  std::size_t max_frame_;
  std::string buf_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

template <typename OnMessage>
bool FrameDecoder::feed(std::string_view bytes, OnMessage&& on_message) {
  if (failed_) return false;
  if (framing_ == Framing::raw) {
    on_message(bytes);
    return true;
  }
  buf_.append(bytes);
  std::string_view msg;
  while (next(msg)) on_message(msg);
  compact();
  return !failed_;
}

}  // namespace relay::test
