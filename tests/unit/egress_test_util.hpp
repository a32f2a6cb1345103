// egress_test_util: what the framing and write-progress tests share: queue-like messages without
// a queue (payloads laid out as queue records, [u32 LE length][payload], end to end in one buffer
// like a segment, so the views are what a Cursor hands out), what the peer must receive (from
// tests/support's copy of the framings, independent of the daemon's), and what a FrameBatch spells.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cursor.hpp"
#include "endpoint.hpp"
#include "frame_batch.hpp"
#include "framing.hpp"

namespace relay::test {

class Records {
 public:
  explicit Records(const std::vector<std::string>& payloads) {
    std::size_t total = 0;
    for (const auto& p : payloads) total += kRecordHeader + p.size();
    mem_ = std::make_unique<std::byte[]>(total);
    std::byte* at = mem_.get();
    for (const auto& p : payloads) {
      const auto len = static_cast<std::uint32_t>(p.size());
      std::memcpy(at, &len, kRecordHeader);  // little-endian host, as relayd requires
      std::memcpy(at + kRecordHeader, p.data(), p.size());
      views_.push_back(MessageView{at + kRecordHeader, len});
      at += kRecordHeader + p.size();
    }
  }
  const std::vector<MessageView>& views() const { return views_; }

 private:
  std::unique_ptr<std::byte[]> mem_;
  std::vector<MessageView> views_;
};

// The bytes relayd must write for `payloads`, in order, framed with `f`.
inline std::string wire(relay::Framing f, const std::vector<std::string>& payloads) {
  std::string out;
  const Framing framing = *parse_framing(relay::to_string(f));  // the same names on both sides
  for (const auto& p : payloads) out += encode(framing, p);
  return out;
}

// The bytes of `b`'s iovecs, in order; checks they add up to b.bytes().
inline std::string flatten(FrameBatch& b) {
  std::string out;
  for (std::size_t i = 0; i < b.iov_count(); ++i)
    out.append(static_cast<const char*>(b.iov()[i].iov_base), b.iov()[i].iov_len);
  EXPECT_EQ(out.size(), b.bytes());
  return out;
}

}  // namespace relay::test
