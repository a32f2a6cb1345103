// Unit tests of ClientThread's command handling around shutdown, with a destination that can
// never connect (so its drain never completes and only deadlines end it).
#include "client_thread.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <span>
#include <string>
#include <thread>

#include "sockets.hpp"
#include "timeouts.hpp"

namespace relay {
namespace {

using namespace std::chrono_literals;

Deadline in(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + test::scaled(d); }

bool draining(const ClientThread& ct) {
  const auto all = ct.snapshot();
  return !all.empty() && all[0].state == DestinationState::draining;
}

// Queue of ten messages and a destination that can never connect, on a started ClientThread.
struct Stuck {
  Queue queue{QueueConfig{.max_queue_bytes = 1 << 20, .segment_bytes = 64 << 10, .max_message = 100, .max_cursors = 4}};
  ClientThread ct{queue, ClientConfig{}};
  std::uint64_t id = 0;

  Stuck() {
    const std::string m = "queued";
    for (int i = 0; i < 10; ++i)
      EXPECT_EQ(queue.append(std::as_bytes(std::span(m.data(), m.size())), steady_ns()), AppendStatus::ok);
    queue.publish();
    ct.start();
    // Nothing listens there: the destination backs off and never writes what is queued for it.
    const std::string nowhere = "tcp@127.0.0.1:" + std::to_string(test::reserve_port());
    id = ct.add(parse_endpoint(nowhere), StartAt::head, in(10s)).id;
  }
};

// Shutdown while a removal drains: the two merge (the earlier deadline wins), and the removal's
// caller gets its answer when the shutdown deadline ends the drain.
TEST(ClientThreadShutdown, RemovalUnderWayWhenShutdownStartsIsAnswered) {
  Stuck s;
  auto removal = std::async(std::launch::async, [&] { return s.ct.remove(Removal{s.id, true, 60s}, in(20s)); });
  ASSERT_TRUE(test::wait_until([&] { return draining(s.ct); }, 10s)) << "the removal did not start draining";
  s.ct.drain_and_stop(test::scaled(500ms));
  ASSERT_EQ(removal.wait_for(test::scaled(10s)), std::future_status::ready) << "the removal was not answered";
  EXPECT_EQ(removal.get().id, s.id);
}

// A removal with drain that arrives while the shutdown drain of the same destination runs must
// be answered (its snapshot, or shutting_down), never left for its caller's deadline.
// (It used to be left unanswered: the removal became a second drain entry, the shutdown's entry
// ended first and erased the destination, and the removal's entry then finished with nothing.)
TEST(ClientThreadShutdown, RemovalDuringTheShutdownDrainIsAnswered) {
  Stuck s;
  std::thread stopper([&] { s.ct.drain_and_stop(test::scaled(1s)); });
  ASSERT_TRUE(test::wait_until([&] { return draining(s.ct); }, 10s)) << "the shutdown drain did not start";
  try {
    EXPECT_EQ(s.ct.remove(Removal{s.id, true, 10s}, in(5s)).id, s.id);
  } catch (const CommandError& e) {
    EXPECT_EQ(e.failure(), CommandFailure::shutting_down) << e.what();
  }
  stopper.join();
}

}  // namespace
}  // namespace relay
