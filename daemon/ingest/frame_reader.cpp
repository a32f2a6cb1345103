#include "frame_reader.hpp"

namespace relay {

void FrameReader::grow() {
  std::size_t grown = capacity_ == 0 ? initial_ : 2 * capacity_;
  if (used_ >= kFrameHeader) grown = std::min(grown, kFrameHeader + std::size_t{load_le32(buf_.get())});
  auto bigger = std::make_unique_for_overwrite<std::byte[]>(grown);  // not zero-filled
  if (used_ > 0) std::memcpy(bigger.get(), buf_.get(), used_);
  buf_ = std::move(bigger);
  capacity_ = grown;
}

}  // namespace relay
