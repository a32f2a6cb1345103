// frame_batch_fuzz: FrameBatch and WriteProgress against arbitrary messages and arbitrary write
// sizes. Whatever the kernel accepts per write, the bytes written, taken together, must be each
// message framed exactly once and in order, and the messages counted whole must be exactly those
// whose last byte went out. Input: a framing byte, then messages as (length byte, payload),
// then one byte per write: how much of the batch that write takes.
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "frame_batch.hpp"
#include "write_progress.hpp"

namespace {

using relay::Framing;

struct Input {
  Framing framing = Framing::lp32le;
  std::vector<std::string> messages;
  std::vector<std::uint8_t> writes;
};

Input split(const std::uint8_t* data, std::size_t size) {
  Input in;
  if (size == 0) return in;
  in.framing = static_cast<Framing>(data[0] % 4);
  std::size_t at = 1;
  while (at < size && in.messages.size() < 64) {
    const std::size_t len = data[at++] % 200 + 1;  // relayd never queues an empty message
    if (at + len > size) break;
    in.messages.emplace_back(reinterpret_cast<const char*>(data + at), len);
    at += len;
  }
  in.writes.assign(data + at, data + size);
  return in;
}

// What the peer must receive: each message framed on its own.
std::string framed(Framing f, const std::string& m) {
  const auto n = static_cast<std::uint32_t>(m.size());
  switch (f) {
    case Framing::lp32le: return std::string{char(n), char(n >> 8), char(n >> 16), char(n >> 24)} + m;
    case Framing::lp32be: return std::string{char(n >> 24), char(n >> 16), char(n >> 8), char(n)} + m;
    case Framing::line: return m.back() == '\n' ? m : m + '\n';
    case Framing::raw: return m;
  }
  return m;
}

// The messages laid out as queue records ([u32 LE length][payload]), as views into them.
std::vector<relay::MessageView> records(const std::vector<std::string>& messages, std::string& storage) {
  for (const auto& m : messages) storage += framed(Framing::lp32le, m);
  std::vector<relay::MessageView> views;
  std::size_t at = 0;
  for (const auto& m : messages) {
    views.push_back(
        {reinterpret_cast<const std::byte*>(storage.data() + at + 4), static_cast<std::uint32_t>(m.size())});
    at += 4 + m.size();
  }
  return views;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Input in = split(data, size);
  std::string storage;
  const std::vector<relay::MessageView> views = records(in.messages, storage);
  std::string expected;
  for (const auto& m : in.messages) expected += framed(in.framing, m);

  static relay::FrameBatch batch;  // 64 KiB of staging: built once, as relayd does
  relay::WriteProgress progress;
  std::string wire;
  std::size_t next = 0;  // first message not yet whole on the wire
  for (std::size_t w = 0; next < views.size(); ++w) {
    const std::size_t framed_count = batch.build(in.framing, std::span(views).subspan(next), progress.partial());
    if (framed_count == 0) std::abort();  // nothing framed: a writer would spin
    const std::size_t want = w < in.writes.size() ? in.writes[w] : batch.bytes();
    std::size_t written = 0;
    for (std::size_t i = 0; i < batch.iov_count() && written < want; ++i) {
      const std::size_t take = std::min(batch.iov()[i].iov_len, want - written);
      wire.append(static_cast<const char*>(batch.iov()[i].iov_base), take);
      written += take;
    }
    next += progress.account(written, batch.ends().first(framed_count));
  }
  if (wire != expected) std::abort();
  if (progress.partial() != 0) std::abort();
  return 0;
}
