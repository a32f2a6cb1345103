// udp_listener_test: a real ServerThread on 127.0.0.1, real datagrams, read back from a real
// Queue with a Cursor.
#include "udp_listener.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "ingest_test_util.hpp"
#include "server_thread.hpp"
#include "udp_sender.hpp"

namespace relay {
namespace {

using test::kIngestWait;
using test::UdpSender;
using test::wait_until;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr std::uint32_t kMaxMessage = 1000;

QueueConfig small_queue(std::size_t max_queue_bytes = std::size_t{16} << 20) {
  QueueConfig q;
  q.max_queue_bytes = max_queue_bytes;
  q.segment_bytes = std::size_t{64} << 10;
  q.max_message = kMaxMessage;
  q.max_cursors = 8;
  return q;
}

IngestConfig ingest(int rcvbuf = 1 << 20) {
  IngestConfig c;
  c.max_message = kMaxMessage;
  c.rcvbuf = rcvbuf;
  c.batch = 8;  // small, so a few dozen datagrams take several batches
  return c;
}

class UdpListenerTest : public ::testing::Test {
 protected:
  void make_server(const std::string& address, IngestConfig cfg = ingest()) {
    server_ = std::make_unique<ServerThread>(queue_, std::vector{parse_endpoint(address, false)}, cfg, [this] {
      // relaxed: a count for the test; the queue's own publish orders the data.
      published_.fetch_add(1, std::memory_order_relaxed);
    });
  }
  std::uint16_t port() const { return test::port_of(server_->listeners().at(0).address); }
  ListenerValues totals() const { return server_->totals(); }

  Queue queue_{small_queue()};
  std::atomic<int> published_{0};
  std::unique_ptr<ServerThread> server_;
};

TEST_F(UdpListenerTest, ReportsTheBoundPortAndBuffer) {
  make_server("udp@127.0.0.1:0");
  const auto infos = server_->listeners();
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_THAT(infos[0].address, MatchesRegex("udp@127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_NE(port(), 0);
  // Linux reports twice what was set (the doubling covers bookkeeping overhead).
  EXPECT_GE(infos[0].rcvbuf_granted_bytes, 1 << 20);
}

TEST_F(UdpListenerTest, GoodDatagramsArriveInOrderOthersAreCounted) {
  make_server("udp@127.0.0.1:0");
  server_->start();
  UdpSender sender(port());
  std::vector<std::string> good;
  good.push_back("hello");
  sender.send(good.back());
  sender.send("");                                 // empty: ignored, counted
  sender.send(std::string(kMaxMessage + 1, 'x'));  // oversized: dropped, counted
  sender.send(std::string(5000, 'y'));             // far oversized
  good.push_back(std::string(kMaxMessage, 'm'));   // exactly the limit: fine
  sender.send(good.back());
  for (int i = 0; i < 40; ++i) {  // several batches
    good.push_back("message " + std::to_string(i) + std::string(static_cast<std::size_t>(i), '\x01'));
    sender.send(good.back());
  }
  sender.send("");
  good.push_back(std::string("\0binary\0\xff", 9));
  sender.send(good.back());

  const auto all_counted = [&] {
    const auto t = totals();
    return t.received_messages + t.dropped_empty + t.dropped_oversized == good.size() + 4;
  };
  ASSERT_TRUE(wait_until(all_counted, kIngestWait)) << "received " << totals().received_messages;
  EXPECT_EQ(test::read_messages(queue_, good.size()), good);

  const ListenerValues t = totals();
  EXPECT_EQ(t.received_messages, good.size());
  std::uint64_t bytes = 0;
  for (const auto& g : good) bytes += g.size();
  EXPECT_EQ(t.received_bytes, bytes);
  EXPECT_EQ(t.dropped_empty, 2u);
  EXPECT_EQ(t.dropped_oversized, 2u);
  EXPECT_EQ(t.dropped_queue_full, 0u);
  EXPECT_EQ(t.receive_errors, 0u);
  EXPECT_EQ(t.kernel_drops, 0u);
  EXPECT_EQ(queue_.tail(), good.size());
  // relaxed: read after the waits above; only a lower bound is checked.
  EXPECT_GE(published_.load(std::memory_order_relaxed), 1);
}

// With --udp-gro a GSO sender's datagrams may come back from the kernel as one buffer with a
// segment size; every datagram must still become its own message, in order, and an oversized
// datagram inside a train is dropped alone.
TEST_F(UdpListenerTest, GroTrainsAreSplitBackIntoTheirDatagrams) {
  IngestConfig cfg = ingest();
  cfg.udp_gro = true;
  make_server("udp@127.0.0.1:0", cfg);
  server_->start();
  UdpSender sender(port());
  UdpSender gso(port());
  std::vector<std::string> good;
  // `count` datagrams of `size` bytes, the last one `last` bytes, each telling its index.
  auto train = [&](int count, std::size_t size, std::size_t last) {
    std::vector<std::string> datagrams;
    for (int i = 0; i < count; ++i) {
      std::string d = "seq" + std::to_string(good.size()) + ":";
      d.resize(i + 1 == count ? last : size, static_cast<char>('a' + good.size() % 26));
      datagrams.push_back(d);
      good.push_back(d);
    }
    return datagrams;
  };
  gso.send_gso(train(10, 100, 37));  // 10 datagrams, the last 37 bytes
  good.push_back("alone");
  sender.send(good.back());         // a plain datagram between trains
  gso.send_gso(train(64, 50, 50));  // the most segments one GSO send takes
  gso.send_gso(train(3, 999, 999));
  const std::size_t expected = good.size();
  gso.send_gso(std::vector<std::string>(2, std::string(kMaxMessage + 1, 'o')));  // two oversized
  const auto all_counted = [&] {
    const auto t = totals();
    return t.received_messages + t.dropped_oversized == expected + 2;
  };
  ASSERT_TRUE(wait_until(all_counted, kIngestWait)) << "received " << totals().received_messages;
  EXPECT_EQ(test::read_messages(queue_, expected), good);
  const ListenerValues t = totals();
  EXPECT_EQ(t.received_messages, expected);
  EXPECT_EQ(t.dropped_oversized, 2u);
  EXPECT_EQ(t.kernel_drops, 0u);
}

TEST_F(UdpListenerTest, KeepsReceivingAfterAnEmptyDatagram) {
  make_server("udp@127.0.0.1:0");
  server_->start();
  UdpSender sender(port());
  sender.send("");
  ASSERT_TRUE(wait_until([&] { return totals().dropped_empty == 1; }, kIngestWait));
  sender.send("after");
  ASSERT_TRUE(wait_until([&] { return totals().received_messages == 1; }, kIngestWait));
  EXPECT_EQ(test::read_messages(queue_, 1), std::vector<std::string>{"after"});
}

// Datagrams that find the receive buffer full are dropped by the kernel; SO_RXQ_OVFL reports
// the socket's running total on the next datagram that does get in.
TEST_F(UdpListenerTest, CountsKernelDrops) {
  make_server("udp@127.0.0.1:0", ingest(1));  // the kernel's minimum buffer: a few datagrams
  UdpSender sender(port());
  constexpr int kFlood = 200;
  for (int i = 0; i < kFlood; ++i) sender.send(std::string(kMaxMessage, 'f'));  // nobody reads yet
  server_->start();
  // A marker that gets in carries the running total of drops. It may itself find the buffer
  // still full (the flood not yet drained) and be dropped; then the next one counts it too.
  std::uint64_t sent = kFlood;
  const auto accounted = [&] {
    const auto t = totals();
    return t.received_messages + t.kernel_drops == sent;
  };
  const auto marker_accounted = [&] {
    sender.send("marker");
    ++sent;
    return wait_until(accounted, std::chrono::milliseconds(100));
  };
  ASSERT_TRUE(wait_until(marker_accounted, kIngestWait))
      << "received " << totals().received_messages << " kernel_drops " << totals().kernel_drops << " sent " << sent;
  EXPECT_GT(totals().kernel_drops, 0u);
}

// Drops after the last datagram that got in are reported while the socket stays quiet: at rest,
// every datagram sent is either received or a kernel drop, with no marker to carry the count.
TEST_F(UdpListenerTest, KernelDropsAddUpAtRest) {
  make_server("udp@127.0.0.1:0", ingest(1));  // the kernel's minimum buffer: a few datagrams
  UdpSender sender(port());
  constexpr std::uint64_t kFlood = 200;
  for (std::uint64_t i = 0; i < kFlood; ++i) sender.send(std::string(kMaxMessage, 'f'));  // nobody reads yet
  server_->start();
  const auto accounted = [&] {
    const auto t = totals();
    return t.received_messages + t.kernel_drops == kFlood;
  };
  ASSERT_TRUE(wait_until(accounted, kIngestWait))
      << "received " << totals().received_messages << " kernel_drops " << totals().kernel_drops;
  EXPECT_GT(totals().kernel_drops, 0u);
  EXPECT_EQ(totals().receive_errors, 0u);
}

// A flood while the loop runs: both sources (SO_RXQ_OVFL on datagrams, the timer) report the
// same drops, and each must be counted once.
TEST_F(UdpListenerTest, KernelDropsAreCountedOnceFromBothSources) {
  make_server("udp@127.0.0.1:0", ingest(1));
  server_->start();
  UdpSender sender(port());
  constexpr std::uint64_t kRounds = 20, kBurst = 100;
  for (std::uint64_t i = 0; i < kRounds * kBurst; ++i) {
    sender.send(std::string(kMaxMessage, 'b'));
    if ((i + 1) % kBurst == 0) std::this_thread::yield();  // let some get in between bursts
  }
  const auto accounted = [&] {
    const auto t = totals();
    return t.received_messages + t.kernel_drops >= kRounds * kBurst;
  };
  ASSERT_TRUE(wait_until(accounted, kIngestWait));
  // Give a double count the timer's next ticks to show itself.
  const ListenerValues before = totals();
  ASSERT_FALSE(
      wait_until([&] { return totals().kernel_drops != before.kernel_drops; }, std::chrono::milliseconds(600)));
  const ListenerValues t = totals();
  EXPECT_EQ(t.received_messages + t.kernel_drops, kRounds * kBurst)
      << "received " << t.received_messages << " kernel_drops " << t.kernel_drops;
  EXPECT_GT(t.received_messages, 0u);
}

TEST(UdpListenerQueue, CountsQueueFullDrops) {
  Queue queue(small_queue(0));  // three 64 KiB segments: about 190 messages of 1000 bytes
  ServerThread server(queue, {parse_endpoint("udp@127.0.0.1:0", false)}, ingest(), {});
  server.start();
  UdpSender sender(test::port_of(server.listeners().at(0).address));
  constexpr std::uint64_t kSent = 400;
  for (std::uint64_t i = 0; i < kSent; i += 50) {
    // In groups, waiting for each to be taken, so the socket buffer never overflows.
    for (int j = 0; j < 50; ++j) sender.send(std::string(kMaxMessage, 'q'));
    const auto group_taken = [&] {
      const auto t = server.totals();
      return t.received_messages + t.dropped_queue_full == i + 50;
    };
    ASSERT_TRUE(wait_until(group_taken, kIngestWait));
  }
  const ListenerValues t = server.totals();
  EXPECT_GT(t.received_messages, 100u);
  EXPECT_GT(t.dropped_queue_full, 0u);
  EXPECT_EQ(queue.tail(), t.received_messages);
}

TEST(UdpListenerBind, AddressInUseNamesTheAddress) {
  Queue queue(small_queue());
  ServerThread first(queue, {parse_endpoint("udp@127.0.0.1:0", false)}, ingest(), {});
  const std::string taken = first.listeners().at(0).address;
  try {
    ServerThread second(queue, {parse_endpoint(taken, false)}, ingest(), {});
    FAIL() << "second bind succeeded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
    EXPECT_THAT(e.what(), HasSubstr("cannot listen on " + taken + ": Address already in use"));
  }
}

TEST(UdpListenerBind, NonLocalAddressFails) {
  Queue queue(small_queue());
  EXPECT_THROW(ServerThread(queue, {parse_endpoint("udp@192.0.2.1:0", false)}, ingest(), {}), std::system_error);
}

TEST(UdpListenerIpv6, ReceivesOnLoopback) {
  Queue queue(small_queue());
  std::unique_ptr<ServerThread> server;
  try {
    server = std::make_unique<ServerThread>(queue, std::vector{parse_endpoint("udp@[::1]:0", false)}, ingest(),
                                            std::function<void()>{});
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback: " << e.what();
  }
  const std::string address = server->listeners().at(0).address;
  EXPECT_THAT(address, MatchesRegex("udp@\\[::1\\]:[0-9]+"));
  server->start();
  UdpSender(test::port_of(address), "::1").send("six");
  ASSERT_TRUE(wait_until([&] { return server->totals().received_messages == 1; }, kIngestWait));
  EXPECT_EQ(test::read_messages(queue, 1), std::vector<std::string>{"six"});
}

TEST(ServerThreadLifecycle, StopIsIdempotentAndStartIsOptional) {
  Queue queue(small_queue());
  { ServerThread never_started(queue, {parse_endpoint("udp@127.0.0.1:0", false)}, ingest(), {}); }
  ServerThread server(queue, {parse_endpoint("udp@127.0.0.1:0", false), parse_endpoint("tcp@127.0.0.1:0", false)},
                      ingest(), {});
  EXPECT_EQ(server.listeners().size(), 2u);
  server.start();
  server.stop();
  server.stop();
  EXPECT_EQ(server.totals().received_messages, 0u);
}

// stop() on another thread than the one that started it must still end the loop and close the
// listener: the address is free again for a new server.
TEST(ServerThreadLifecycle, StopFromAnotherThread) {
  Queue queue(small_queue());
  ServerThread server(queue, {parse_endpoint("udp@127.0.0.1:0", false)}, ingest(), {});
  const std::string address = server.listeners().at(0).address;
  server.start();
  UdpSender(test::port_of(address)).send("before stop");
  ASSERT_TRUE(wait_until([&] { return server.totals().received_messages == 1; }, kIngestWait));
  std::thread stopper([&] { server.stop(); });
  stopper.join();
  EXPECT_NO_THROW(ServerThread(queue, {parse_endpoint(address, false)}, ingest(), {}))
      << "the stopped server still holds " << address;
}

}  // namespace
}  // namespace relay
