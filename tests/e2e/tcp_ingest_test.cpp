// TCP ingest: a tcp@ listener takes lp32le frames; a frame longer than --max-message-size
// closes only the offending connection (counted), and other connections keep working.
#include <gtest/gtest.h>
#include <signal.h>

#include "accounting.hpp"
#include "framing.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "sequence_check.hpp"
#include "tcp_client.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"

namespace relay::test {
namespace {

std::string frames(std::uint64_t first, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += encode(Framing::lp32le, make_payload(first + i, 100));
  return out;
}

TEST(TcpIngestTest, OversizedFrameClosesOnlyThatConnection) {
  constexpr std::size_t kMax = 4096, kBatch = 50;
  TcpSink sink(Framing::lp32le);
  RelaydProcess relayd(
      relayd_args("tcp@127.0.0.1:0", {destination(sink.port())}, {"--max-message-size", std::to_string(kMax)}));
  ASSERT_TRUE(relayd.wait_ready());
  const auto port = relayd.listen_port();
  ASSERT_NE(port, 0) << "no 'listening on tcp@...' line with a port";

  TcpClient bad(port);
  TcpClient good(port);  // connected before the bad frame: must survive it
  ASSERT_TRUE(bad.send_all(frames(0, kBatch)));
  ASSERT_TRUE(sink.wait_for_count(kBatch, 10s)) << sink.count() << " of " << kBatch;
  std::string oversized(4, '\0');
  oversized[1] = 0x10;  // little-endian 0x1000 + 1 below: kMax + 1
  oversized[0] = 0x01;
  // Not checked: relayd may close the connection before the whole frame is written.
  (void)bad.send_all(oversized + std::string(kMax + 1, 'y'));
  EXPECT_TRUE(bad.wait_closed_by_peer(10s)) << "relayd kept the connection with the oversized frame open";

  ASSERT_TRUE(good.send_all(frames(kBatch, kBatch)));
  ASSERT_TRUE(sink.wait_for_count(2 * kBatch, 10s)) << sink.count() << " of " << 2 * kBatch;
  TcpClient later(port);
  ASSERT_TRUE(later.send_all(frames(2 * kBatch, kBatch)));
  ASSERT_TRUE(sink.wait_for_count(3 * kBatch, 10s)) << sink.count() << " of " << 3 * kBatch;

  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  const auto r = check_sequence(sink.messages());
  EXPECT_TRUE(r.contiguous()) << "missing " << r.missing << ", out of order " << r.out_of_order;
  EXPECT_EQ(r.count, 3 * kBatch) << "nothing of the oversized frame may be forwarded";
  const auto l = relayd.stats().listener(port);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->u("connections_closed_bad_frame"), 1u);
  EXPECT_EQ(l->u("connections_accepted"), 3u);
  EXPECT_EQ(l->u("received_messages"), 3 * kBatch);
  // Frames begun: 3 × kBatch whole and the oversized one (its bytes go with the connection).
  expect_exit_report_adds_up(relayd.stats(), {{port, 3 * kBatch + 1}});
}

// Every frame a client started is either received or counted as a loss, and so is every byte
// that came after a bad header: the counters add up exactly.
TEST(TcpIngestTest, CutAndBadFramesAreCounted) {
  constexpr std::size_t kMax = 4096, kBatch = 50, kTrailing = 100;
  TcpSink sink(Framing::lp32le);
  RelaydProcess relayd(
      relayd_args("tcp@127.0.0.1:0", {destination(sink.port())}, {"--max-message-size", std::to_string(kMax)}));
  ASSERT_TRUE(relayd.wait_ready());
  const auto port = relayd.listen_port();
  ASSERT_NE(port, 0) << "no 'listening on tcp@...' line with a port";

  {
    TcpClient cut(port);
    ASSERT_TRUE(cut.send_all(frames(0, kBatch)));
    ASSERT_TRUE(sink.wait_for_count(kBatch, 10s)) << sink.count() << " of " << kBatch;
    ASSERT_TRUE(cut.send_all(frames(kBatch, 1).substr(0, 50)));  // header and half the payload
  }
  TcpClient bad(port);
  ASSERT_TRUE(bad.send_all(frames(kBatch, kBatch)));
  ASSERT_TRUE(sink.wait_for_count(2 * kBatch, 10s)) << sink.count() << " of " << 2 * kBatch;
  const std::string oversized_header{'\x01', '\x10', '\0', '\0'};  // little-endian kMax + 1
  // One small write, so relayd reads the header and what follows it together.
  ASSERT_TRUE(bad.send_all(oversized_header + std::string(kTrailing, 't')));
  EXPECT_TRUE(bad.wait_closed_by_peer(10s)) << "relayd kept the connection with the oversized frame open";

  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  EXPECT_EQ(check_sequence(sink.messages()).count, 2 * kBatch);
  const auto l = relayd.stats().listener(port);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->u("received_messages"), 2 * kBatch);
  EXPECT_EQ(l->u("dropped_partial_frames"), 1u);
  EXPECT_EQ(l->u("dropped_oversized"), 1u);
  EXPECT_EQ(l->u("connections_closed_bad_frame"), 1u);
  EXPECT_EQ(l->u("dropped_bad_frame_bytes"), oversized_header.size() + kTrailing);
  EXPECT_EQ(l->u("connections_accepted"), 2u);
  EXPECT_EQ(l->u("receive_errors"), 0u);
  // Every frame started: 2 × kBatch whole, one cut, one oversized.
  expect_exit_report_adds_up(relayd.stats(), {{port, 2 * kBatch + 2}});
}

}  // namespace
}  // namespace relay::test
