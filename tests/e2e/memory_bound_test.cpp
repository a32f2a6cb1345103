// Memory outside the queue budget stays bounded under abuse (issue #9 item 4): UDP receive slots
// are capped at the datagram maximum whatever --max-message-size says, and a TCP ingest
// connection holds buffer memory for what actually arrived, not for what a header announces.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "framing.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "tcp_client.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"

namespace relay::test {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;
// relayd's own ~30 MiB plus room, far below the abuse; AddressSanitizer's shadow, redzones and
// quarantine add their own share.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t kBound = 400 * kMiB;
#else
constexpr std::uint64_t kBound = 150 * kMiB;
#endif

// A field of /proc/PID/status in bytes ("VmHWM:   12345 kB").
std::uint64_t status_bytes(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) * 1024;
  }
  ADD_FAILURE() << "no " << field << " in /proc/" << pid << "/status";
  return 0;
}

// One whole frame on a connection opened last: once it is through, the loop has accepted and
// read every connection that was ready before it.
void frame_through_last_connection(const RelaydProcess& relayd, TcpSink& sink) {
  TcpClient last(relayd.listen_port());
  ASSERT_TRUE(last.send_all(encode(Framing::lp32le, make_payload(0, 100))));
  ASSERT_TRUE(sink.wait_for_count(1, 10s));
}

void expect_rss_grew_less_than(pid_t pid, std::uint64_t before, std::uint64_t bound) {
  const std::uint64_t after = status_bytes(pid, "VmRSS");
  EXPECT_LT(after - std::min(after, before), bound) << "RSS grew from " << before << " to " << after;
}

// 16 MiB messages and 1,024-datagram batches once asked for 16 GiB of receive slots.
TEST(MemoryBoundTest, HugeMaxMessageSizeDoesNotSizeTheUdpSlots) {
  TcpSink sink;
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {destination(sink.port())},
                                   {"--max-message-size", "16777212", "--batch", "1024", "--max-queue-bytes", "1GiB"}));
  ASSERT_TRUE(relayd.wait_ready());
  EXPECT_LT(status_bytes(relayd.pid(), "VmHWM"), kBound);
  relayd.signal(SIGTERM);
  EXPECT_EQ(relayd.wait_exit(20s), 0);
}

// 50 connections each announce a 16 MiB frame and send 1,000 bytes of it: once 813 MiB of RSS.
TEST(MemoryBoundTest, AnnouncedFramesDoNotAllocateWhatTheyAnnounce) {
  constexpr int kConnections = 50;
  TcpSink sink;
  RelaydProcess relayd(relayd_args("tcp@127.0.0.1:0", {destination(sink.port())},
                                   {"--max-message-size", "16777212", "--max-queue-bytes", "1GiB"}));
  ASSERT_TRUE(relayd.wait_ready());
  const std::uint64_t before = status_bytes(relayd.pid(), "VmRSS");
  const std::string header = encode(Framing::lp32le, std::string(16777212, 'x')).substr(0, 4);
  std::vector<std::unique_ptr<TcpClient>> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<TcpClient>(relayd.listen_port()));
    ASSERT_TRUE(clients.back()->send_all(header + std::string(1000, 'y')));
  }
  frame_through_last_connection(relayd, sink);
  expect_rss_grew_less_than(relayd.pid(), before, 32 * kMiB);

  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  const auto l = relayd.stats().listener(relayd.listen_port());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->u("dropped_partial_frames"), static_cast<std::uint64_t>(kConnections))
      << "relayd did not hold the announced frames' bytes, so the test proved nothing";
}

// Idle connections hold no buffer at all (each once held 256 KiB: 1,000 of them, 254 MiB).
TEST(MemoryBoundTest, IdleConnectionsHoldNoBuffer) {
  constexpr int kConnections = 400;
  TcpSink sink;
  RelaydProcess relayd(relayd_args("tcp@127.0.0.1:0", {destination(sink.port())}));
  ASSERT_TRUE(relayd.wait_ready());
  const std::uint64_t before = status_bytes(relayd.pid(), "VmRSS");
  std::vector<std::unique_ptr<TcpClient>> clients;
  for (int i = 0; i < kConnections; ++i) clients.push_back(std::make_unique<TcpClient>(relayd.listen_port()));
  frame_through_last_connection(relayd, sink);
  expect_rss_grew_less_than(relayd.pid(), before, 16 * kMiB);
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  const auto l = relayd.stats().listener(relayd.listen_port());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->u("connections_accepted"), static_cast<std::uint64_t>(kConnections + 1));
}

}  // namespace
}  // namespace relay::test
