// Unit tests of FrameBatch: the bytes its iovecs spell out must be exactly the framed messages,
// whatever mix of staged copies and queue references it chose, after any skip, at any limit.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "egress_test_util.hpp"
#include "frame_batch.hpp"

namespace relay {
namespace {

using test::flatten;
using test::Records;
using test::wire;

std::vector<std::string> mixed_payloads() {
  std::vector<std::string> p;
  for (int i = 0; i < 50; ++i) p.push_back("metric.m" + std::to_string(i) + " 42 1700000000" + (i % 3 ? "\n" : ""));
  p.push_back(std::string(3000, 'B'));  // big: sent from queue memory, not staged
  p.push_back("after.big 1\n");
  p.push_back(std::string(FrameBatch::kCopyBelow, 'e'));  // the first size not staged
  p.push_back(std::string(FrameBatch::kCopyBelow - 1, 's'));
  return p;
}

TEST(FrameBatch, EveryFramingSpellsTheWireBytes) {
  const auto payloads = mixed_payloads();
  Records recs(payloads);
  FrameBatch b;
  for (Framing f : {Framing::lp32le, Framing::lp32be, Framing::line, Framing::raw}) {
    EXPECT_EQ(b.build(f, recs.views(), 0), payloads.size());
    EXPECT_EQ(flatten(b), wire(f, payloads)) << static_cast<int>(f);
  }
}

// A group member's copy: the same bytes from the payload alone, one message at a time (an empty
// payload too: its lp32 header, and under line framing a lone newline).
TEST(FrameBatch, AppendFramedSpellsWhatBuildFrames) {
  auto payloads = mixed_payloads();
  payloads.push_back("");
  for (Framing f : {Framing::lp32le, Framing::lp32be, Framing::line, Framing::raw}) {
    std::string out;
    for (const auto& p : payloads)
      FrameBatch::append_framed(
          f, MessageView{reinterpret_cast<const std::byte*>(p.data()), static_cast<std::uint32_t>(p.size())}, out);
    EXPECT_EQ(out, wire(f, payloads)) << static_cast<int>(f);
  }
}

TEST(FrameBatch, RunsOfSmallMessagesBecomeFewIovecs) {
  std::vector<std::string> payloads(500, "bench.m1 42 1700000000");
  Records recs(payloads);
  FrameBatch b;
  b.build(Framing::line, recs.views(), 0);
  EXPECT_EQ(b.iov_count(), 1u);  // payloads and newlines all staged contiguously
  b.build(Framing::lp32le, recs.views(), 0);
  EXPECT_EQ(b.iov_count(), 1u);  // records are contiguous in the queue already
}

TEST(FrameBatch, SkipDropsBytesAlreadyWritten) {
  const auto payloads = mixed_payloads();
  Records recs(payloads);
  FrameBatch b;
  for (Framing f : {Framing::lp32le, Framing::lp32be, Framing::line, Framing::raw}) {
    const std::string first = wire(f, {payloads[0]});
    for (std::size_t skip : {std::size_t{1}, first.size() - 1}) {
      b.build(f, recs.views(), skip);
      EXPECT_EQ(flatten(b), wire(f, payloads).substr(skip));
    }
  }
}

TEST(FrameBatch, StopsAtTheStagingBufferAndResumesWhole) {
  // 200-byte payloads staged with headers: the 64 KiB stage holds a few hundred, never a cut one.
  std::vector<std::string> payloads;
  for (int i = 0; i < 2000; ++i) payloads.push_back(std::string(199, static_cast<char>('a' + i % 26)) + "\n");
  Records recs(payloads);
  FrameBatch b;
  std::string sent;
  std::size_t done = 0;
  while (done < payloads.size()) {
    const auto rest = std::span(recs.views()).subspan(done);
    const std::size_t n = b.build(Framing::lp32be, rest, 0);
    ASSERT_GT(n, 0u);
    ASSERT_LT(n, payloads.size());  // the limit really applied
    sent += flatten(b);
    done += n;
  }
  EXPECT_EQ(sent, wire(Framing::lp32be, payloads));
}

TEST(FrameBatch, StopsAtTheIovecLimit) {
  // Big payloads are referenced, each its own iovec plus a staged newline: 2 iovecs per message.
  std::vector<std::string> payloads(FrameBatch::kMaxIov, std::string(300, 'x'));
  Records recs(payloads);
  FrameBatch b;
  const std::size_t n = b.build(Framing::line, recs.views(), 0);
  EXPECT_EQ(n, FrameBatch::kMaxIov / 2);
  EXPECT_LE(b.iov_count(), FrameBatch::kMaxIov);
  EXPECT_EQ(flatten(b), wire(Framing::line, std::vector(payloads.begin(), payloads.begin() + static_cast<long>(n))));
}

}  // namespace
}  // namespace relay
