// tcp_listener_test: TCP ingest of lp32le frames through a real ServerThread on 127.0.0.1, read
// back from a real Queue with a Cursor.
#include "tcp_listener.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "framing.hpp"
#include "ingest_test_util.hpp"
#include "server_thread.hpp"
#include "sockets.hpp"
#include "tcp_client.hpp"

namespace relay {
namespace {

using test::kIngestWait;
using test::TcpClient;
using test::wait_until;

constexpr std::uint32_t kMaxMessage = 1000;

std::string frame(const std::string& payload) { return test::encode(test::Framing::lp32le, payload); }

// Sends everything or fails the test: a listener test's client never expects a refusal.
void write_all(TcpClient& c, const std::string& bytes) { ASSERT_TRUE(c.send_all(bytes)) << std::strerror(errno); }

class TcpListenerTest : public ::testing::Test {
 protected:
  explicit TcpListenerTest(std::uint32_t max_message = kMaxMessage, IngestConfig cfg = {})
      : queue_(queue_config(max_message)) {
    cfg.max_message = max_message;
    server_ = std::make_unique<ServerThread>(queue_, std::vector{parse_endpoint("tcp@127.0.0.1:0", false)}, cfg,
                                             std::function<void()>{});
    server_->start();
  }
  static QueueConfig queue_config(std::uint32_t max_message) {
    QueueConfig q;
    q.max_queue_bytes = std::size_t{16} << 20;
    q.segment_bytes = std::size_t{1} << 20;
    q.max_message = max_message;
    q.max_cursors = 8;
    return q;
  }
  std::uint16_t port() const { return test::port_of(server_->listeners().at(0).address); }
  ListenerValues totals() const { return server_->totals(); }
  bool received(std::uint64_t n) {
    return wait_until([&] { return totals().received_messages >= n; }, kIngestWait);
  }

  Queue queue_;
  std::unique_ptr<ServerThread> server_;
};

TEST_F(TcpListenerTest, ReportsTheBoundPort) {
  EXPECT_THAT(server_->listeners().at(0).address, ::testing::MatchesRegex("tcp@127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_NE(port(), 0);
}

// Each step waits for its effect so the order across the two connections is known.
TEST_F(TcpListenerTest, BadFrameClosesOnlyThatConnection) {
  TcpClient a(port());
  TcpClient b(port());
  const std::string a2 = frame("a2");
  write_all(a, frame("a1") + frame("") + a2.substr(0, 2));  // a2's header cut in half
  ASSERT_TRUE(received(1));
  write_all(a, a2.substr(2));
  ASSERT_TRUE(received(2));
  write_all(b, frame("b1"));
  ASSERT_TRUE(received(3));
  write_all(a, frame("a3"));
  ASSERT_TRUE(received(4));
  write_all(a, frame(std::string(kMaxMessage + 1, 'x')));
  EXPECT_TRUE(a.wait_closed_by_peer(kIngestWait));
  ASSERT_TRUE(wait_until([&] { return totals().connections_closed_bad_frame == 1; }, kIngestWait));
  write_all(b, frame("b2"));
  ASSERT_TRUE(received(5));

  EXPECT_EQ(test::read_messages(queue_, 5), (std::vector<std::string>{"a1", "a2", "b1", "a3", "b2"}));
  const ListenerValues t = totals();
  EXPECT_EQ(t.connections_accepted, 2u);
  EXPECT_EQ(t.received_messages, 5u);
  EXPECT_EQ(t.received_bytes, 10u);
  EXPECT_EQ(t.dropped_empty, 1u);
  EXPECT_EQ(t.dropped_oversized, 1u);
  EXPECT_EQ(t.connections_closed_bad_frame, 1u);
  EXPECT_EQ(t.dropped_bad_frame_bytes, 4 + kMaxMessage + 1) << "the bad frame was written, and read, in one piece";
  EXPECT_EQ(t.dropped_partial_frames, 0u);
}

// One write, so relayd reads it at once: a good frame, the bad header, and what followed it.
TEST_F(TcpListenerTest, BytesAfterABadHeaderAreCounted) {
  TcpClient c(port());
  const std::string bad_header = frame(std::string(kMaxMessage + 1, 'x')).substr(0, 4);
  write_all(c, frame("ok") + bad_header + std::string(10, 't'));
  EXPECT_TRUE(c.wait_closed_by_peer(kIngestWait));
  ASSERT_TRUE(wait_until([&] { return totals().connections_closed_bad_frame == 1; }, kIngestWait));
  const ListenerValues t = totals();
  EXPECT_EQ(t.received_messages, 1u);
  EXPECT_EQ(t.dropped_oversized, 1u);
  EXPECT_EQ(t.dropped_bad_frame_bytes, 14u);
  EXPECT_EQ(t.dropped_partial_frames, 0u);
}

TEST_F(TcpListenerTest, ManyFramesInOneWrite) {
  TcpClient c(port());
  std::vector<std::string> sent;
  std::string wire;
  for (int i = 0; i < 500; ++i) {
    sent.push_back(std::to_string(i) + std::string(static_cast<std::size_t>(i % 900), 'p'));
    wire += frame(sent.back());
  }
  sent.push_back(std::string(kMaxMessage, 'M'));  // exactly the limit
  wire += frame(sent.back());
  write_all(c, wire);
  ASSERT_TRUE(received(sent.size()));
  EXPECT_EQ(test::read_messages(queue_, sent.size()), sent);
  EXPECT_EQ(totals().dropped_oversized, 0u);
}

// A peer may close in the middle of a frame: not an error, but the cut frame is counted.
TEST_F(TcpListenerTest, PeerCloseMidFrameIsCounted) {
  {
    TcpClient c(port());
    write_all(c, frame("whole") + frame("cut").substr(0, 5));  // payload cut
    ASSERT_TRUE(received(1));
  }
  {
    TcpClient c(port());
    write_all(c, frame("cut").substr(0, 3));  // header cut
  }
  ASSERT_TRUE(wait_until([&] { return totals().dropped_partial_frames == 2; }, kIngestWait))
      << "dropped_partial_frames " << totals().dropped_partial_frames;
  TcpClient d(port());
  write_all(d, frame("next"));
  ASSERT_TRUE(received(2));
  EXPECT_EQ(test::read_messages(queue_, 2), (std::vector<std::string>{"whole", "next"}));
  const ListenerValues t = totals();
  EXPECT_EQ(t.dropped_partial_frames, 2u);
  EXPECT_EQ(t.connections_closed_bad_frame, 0u);
  EXPECT_EQ(t.dropped_bad_frame_bytes, 0u);
  EXPECT_EQ(t.receive_errors, 0u);
  EXPECT_EQ(t.connections_accepted, 3u);
}

// A reset (a crashed peer) mid-frame is a failed read, and the cut frame is counted too.
TEST_F(TcpListenerTest, ResetMidFrameIsCounted) {
  const test::SocketAddress a = test::make_address("127.0.0.1", port());
  test::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(fd.get(), a.get(), a.len), 0) << std::strerror(errno);
  const std::string wire = frame("whole") + frame("cut").substr(0, 6);
  ASSERT_EQ(::send(fd.get(), wire.data(), wire.size(), MSG_NOSIGNAL), static_cast<ssize_t>(wire.size()));
  ASSERT_TRUE(received(1));
  test::abort_close(fd);
  ASSERT_TRUE(wait_until([&] { return totals().dropped_partial_frames == 1; }, kIngestWait));
  EXPECT_EQ(totals().receive_errors, 1u);
}

// Shutting down with a frame half received loses it as surely as a peer closing.
TEST_F(TcpListenerTest, StopMidFrameIsCounted) {
  TcpClient c(port());
  write_all(c, frame("whole") + frame("cut").substr(0, 5));
  ASSERT_TRUE(received(1));  // one write, so the cut frame was read with it
  server_->stop();
  EXPECT_EQ(totals().dropped_partial_frames, 1u);
  EXPECT_EQ(totals().received_messages, 1u);
}

// Frames above the initial 16 KiB read buffer make it grow, as they arrive, to the frame's size.
class TcpListenerLargeTest : public TcpListenerTest {
 protected:
  TcpListenerLargeTest() : TcpListenerTest(600 << 10) {}
};

TEST_F(TcpListenerLargeTest, FramesLargerThanTheInitialBuffer) {
  TcpClient c(port());
  std::string big(600 << 10, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  write_all(c, frame("small") + frame(big) + frame("after"));
  ASSERT_TRUE(received(3));
  EXPECT_EQ(test::read_messages(queue_, 3), (std::vector<std::string>{"small", big, "after"}));
}

// Issue #9 item 4: ingest memory and descriptors are bounded — at most --max-connections open
// connections (more are closed at once and counted), idle ones closed after the timeout.
IngestConfig limited(unsigned max_connections, double idle_timeout) {
  IngestConfig cfg;
  cfg.max_connections = max_connections;
  cfg.idle_timeout = idle_timeout;
  return cfg;
}

class TcpListenerCapTest : public TcpListenerTest {
 protected:
  TcpListenerCapTest() : TcpListenerTest(kMaxMessage, limited(2, 0)) {}
};

TEST_F(TcpListenerCapTest, ConnectionsBeyondTheCapAreClosedAtOnceAndCounted) {
  TcpClient a(port());
  TcpClient b(port());
  ASSERT_TRUE(wait_until([&] { return totals().connections_accepted == 2; }, kIngestWait));
  TcpClient refused(port());
  EXPECT_TRUE(refused.wait_closed_by_peer(kIngestWait)) << "a third connection was kept open";
  // The counter is read from another thread: await it rather than assume the store is visible.
  EXPECT_TRUE(wait_until([&] { return totals().connections_refused == 1; }, kIngestWait))
      << "connections_refused " << totals().connections_refused;
  write_all(a, frame("a"));
  write_all(b, frame("b"));
  ASSERT_TRUE(received(2)) << "the connections within the cap stopped working";
}

class TcpListenerIdleTest : public TcpListenerTest {
 protected:
  TcpListenerIdleTest() : TcpListenerTest(kMaxMessage, limited(16, 1.0)) {}
};

TEST_F(TcpListenerIdleTest, IdleConnectionsAreClosedAndCountedBusyOnesKept) {
  TcpClient idle(port());
  TcpClient busy(port());
  // The busy one sends every 100 ms of real time (a traffic pattern, not a wait: sanitizer
  // scaling must not stretch it past the 1 s timeout); the idle one never sends.
  for (int i = 0; i < 100 && !idle.wait_closed_by_peer(std::chrono::milliseconds(1)); ++i) {
    write_all(busy, frame("x"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(idle.wait_closed_by_peer(kIngestWait)) << "an idle connection outlived --ingest-idle-timeout";
  EXPECT_EQ(totals().connections_closed_idle, 1u);
  write_all(busy, frame("still here"));
  ASSERT_TRUE(wait_until([&] { return totals().received_messages >= 1 && totals().connections_closed_idle == 1; },
                         kIngestWait));
}

TEST(TcpListenerBind, AddressInUseNamesTheAddress) {
  Queue queue(
      QueueConfig{.max_queue_bytes = 4 << 20, .segment_bytes = 1 << 20, .max_message = kMaxMessage, .max_cursors = 4});
  ServerThread first(queue, {parse_endpoint("tcp@127.0.0.1:0", false)}, IngestConfig{}, {});
  const std::string taken = first.listeners().at(0).address;
  try {
    ServerThread second(queue, {parse_endpoint(taken, false)}, IngestConfig{}, {});
    FAIL() << "second listen succeeded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("cannot listen on " + taken + ": Address already in use"));
  }
}

// A reload's listener changes (change_listeners) while traffic flows and other threads read the
// listener list and totals (the stats and metrics readers): run under TSan, this is the check
// that the server thread's list changes and the readers' reads never race. Totals only grow; a
// removed listener's counts stay, summed under "removed"; a retired connection is read to the end.
TEST_F(TcpListenerTest, ListenersChangeWhileReadersReadAndTrafficFlows) {
  constexpr int kRounds = 20, kFrames = 50;
  std::atomic<bool> stop{false};
  std::atomic<bool> went_back{false};
  std::thread reader([&] {
    std::uint64_t last = 0;
    while (!stop.load()) {
      const std::uint64_t now = totals().received_messages;
      if (now < last) went_back = true;
      last = now;
      (void)server_->listeners();
    }
  });
  std::uint64_t sent = 0;
  for (int round = 0; round < kRounds; ++round) {
    ListenerChange add;
    add.add.push_back(parse_endpoint("tcp@127.0.0.1:0", false));
    const ListenerChangeResult added = server_->change_listeners(add, std::chrono::seconds(10));
    ASSERT_EQ(added.added.size(), 1u) << (added.failed.empty() ? "" : added.failed[0]);
    TcpClient client(test::port_of(added.added[0]));
    for (int i = 0; i < kFrames / 2; ++i) write_all(client, frame("m"));
    ListenerChange remove;
    remove.remove.push_back("tcp@127.0.0.1:0");  // the first of the two: the one from the constructor first
    remove.grace = 5;
    const ListenerChangeResult removed = server_->change_listeners(remove, std::chrono::seconds(10));
    ASSERT_EQ(removed.removed.size(), 1u) << (removed.failed.empty() ? "" : removed.failed[0]);
    for (int i = 0; i < kFrames / 2; ++i) write_all(client, frame("m"));  // read although retired
    sent += kFrames;
    ASSERT_TRUE(received(sent)) << totals().received_messages << " of " << sent;
  }
  stop = true;
  reader.join();
  EXPECT_FALSE(went_back) << "a removed listener's counts left the totals";
  const auto list = server_->listeners();
  ASSERT_EQ(list.size(), 2u);  // the last one added, and "removed"
  EXPECT_EQ(list.back().address, ServerThread::kRemovedListeners);
  EXPECT_EQ(list[0].counters.received_messages + list.back().counters.received_messages, sent);
  EXPECT_EQ(totals().received_messages, sent);
}

// Unknown addresses and addresses already taken are failed steps; the rest still applies.
TEST_F(TcpListenerTest, AFailedListenerChangeNamesEachStep) {
  ListenerChange change;
  change.remove.push_back("tcp@127.0.0.1:1");                                              // not a listener here
  change.add.push_back(parse_endpoint("tcp@127.0.0.1:" + std::to_string(port()), false));  // taken
  change.add.push_back(parse_endpoint("udp@127.0.0.1:0", false));
  const ListenerChangeResult r = server_->change_listeners(change, std::chrono::seconds(10));
  ASSERT_EQ(r.failed.size(), 2u);
  EXPECT_THAT(r.failed[0], ::testing::HasSubstr("Address already in use"));
  EXPECT_THAT(r.failed[1], ::testing::HasSubstr("remove tcp@127.0.0.1:1: no such listener"));
  ASSERT_EQ(r.added.size(), 1u);
  EXPECT_THAT(r.added[0], ::testing::StartsWith("udp@127.0.0.1:"));
  EXPECT_EQ(server_->listeners().size(), 2u);
}

}  // namespace
}  // namespace relay
