// TCP ingest: a tcp@ listener takes lp32le frames; a frame longer than --max-message-size
// closes only the offending connection (counted), and other connections keep working.
#include <gtest/gtest.h>
#include <signal.h>

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
}

}  // namespace
}  // namespace relay::test
