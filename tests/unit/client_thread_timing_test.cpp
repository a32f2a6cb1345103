// Unit tests of ClientThread::set_destination_timing(): new reconnect backoff and connect timeout
// reach running destinations (their pending waits shortened) and destinations added later.
// Real sockets on loopback: a closed port refuses at once, a listener whose accept queue is full
// never answers a SYN (so a connect attempt hangs until its timeout).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#include "client_thread.hpp"
#include "sockets.hpp"
#include "timeouts.hpp"
#include "unique_fd.hpp"

namespace relay {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Deadline in(std::chrono::milliseconds d) { return Clock::now() + test::scaled(d); }

DestinationConfig timing(double reconnect_min, double reconnect_max, double connect_timeout) {
  DestinationConfig t;
  t.reconnect_min = reconnect_min;
  t.reconnect_max = reconnect_max;
  t.connect_timeout = connect_timeout;
  return t;
}

std::uint64_t failures(const ClientThread& ct, std::uint64_t id) {
  for (const auto& d : ct.snapshot())
    if (d.id == id) return d.counters.connect_failures;
  return 0;
}

std::string closed_port() { return "tcp@127.0.0.1:" + std::to_string(test::reserve_port()); }

// A loopback listener that never accepts, its accept queue (backlog 0: one connection) filled by
// a connection of our own: the kernel drops every further SYN, so a connect to it hangs.
struct Unanswering {
  test::UniqueFd listener{socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  test::UniqueFd filler{socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  std::uint16_t port = 0;

  Unanswering() {
    const test::SocketAddress any = test::make_address("127.0.0.1", 0);
    if (bind(listener.get(), any.get(), any.len) != 0 || listen(listener.get(), 0) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    port = test::local_port(listener.get());
    const test::SocketAddress at = test::make_address("127.0.0.1", port);
    if (connect(filler.get(), at.get(), at.len) != 0) throw std::runtime_error("cannot fill the accept queue");
  }
  std::string address() const { return "tcp@127.0.0.1:" + std::to_string(port); }
};

struct Fixture {
  Queue queue{QueueConfig{.max_queue_bytes = 1 << 20, .segment_bytes = 64 << 10, .max_message = 100, .max_cursors = 4}};
  ClientThread ct;
  explicit Fixture(DestinationConfig t) : ct(queue, ClientConfig{.destination = t}) {}
};

// A destination backing off for 2.5-5 s (reconnect 5 s) retries within 50 ms once the timing
// drops to 50 ms: its pending wait is shortened, not waited out, and the backoff from then on is
// the new one.
TEST(ClientThreadTiming, RunningDestinationTakesTheNewBackoffAtOnce) {
  Fixture f(timing(5, 5, 5));
  f.ct.start();
  const std::uint64_t id = f.ct.add(parse_endpoint(closed_port()), StartAt::tail, in(10s)).id;
  ASSERT_TRUE(test::wait_until([&] { return failures(f.ct, id) >= 1; }, 5s)) << "the first connect never failed";
  std::this_thread::sleep_for(1s);  // measured: how many attempts a second of the old backoff makes
  EXPECT_EQ(failures(f.ct, id), 1u) << "attempts within 1 s of a 2.5-5 s backoff";

  f.ct.set_destination_timing(timing(0.05, 0.05, 5));
  const auto changed = Clock::now();
  // Unscaled on purpose: the old wait has at least 1.5 s left, the new one at most 50 ms.
  ASSERT_TRUE(test::wait_until([&] { return failures(f.ct, id) >= 2; }, 20s));
  EXPECT_LT(Clock::now() - changed, 1s) << "the next attempt waited for the old backoff";
  EXPECT_TRUE(test::wait_until([&] { return failures(f.ct, id) >= 12; }, 5s))
      << "connect_failures " << failures(f.ct, id) << " with a 50 ms backoff";
  f.ct.drain_and_stop(0ms);
}

// Set before start(): a destination added afterwards uses the new timing from its first backoff,
// and so does one added after a second change (the change and the add keep their order).
TEST(ClientThreadTiming, DestinationsAddedLaterUseTheNewTiming) {
  Fixture f(timing(5, 5, 5));
  f.ct.set_destination_timing(timing(0.05, 0.05, 5));
  f.ct.start();
  const std::uint64_t first = f.ct.add(parse_endpoint(closed_port()), StartAt::tail, in(10s)).id;
  EXPECT_TRUE(test::wait_until([&] { return failures(f.ct, first) >= 10; }, 5s))
      << "connect_failures " << failures(f.ct, first) << " with a 50 ms backoff set before start()";

  f.ct.set_destination_timing(timing(5, 5, 5));
  const std::uint64_t second = f.ct.add(parse_endpoint(closed_port()), StartAt::tail, in(10s)).id;
  ASSERT_TRUE(test::wait_until([&] { return failures(f.ct, second) >= 1; }, 5s)) << "the first connect never failed";
  std::this_thread::sleep_for(1s);  // measured: the 5 s backoff holds the next attempt back
  EXPECT_EQ(failures(f.ct, second), 1u);
  const std::uint64_t settled = failures(f.ct, first);
  std::this_thread::sleep_for(500ms);  // measured: the first destination slowed down too
  EXPECT_LE(failures(f.ct, first), settled + 1);
  f.ct.drain_and_stop(0ms);
}

// A connect attempt hanging under a 5 s timeout gives up within the new 100 ms timeout.
TEST(ClientThreadTiming, AttemptInProgressTakesTheNewConnectTimeout) {
  Unanswering peer;
  Fixture f(timing(0.05, 0.05, 5));
  f.ct.start();
  const std::uint64_t id = f.ct.add(parse_endpoint(peer.address()), StartAt::tail, in(10s)).id;
  std::this_thread::sleep_for(500ms);  // measured: the attempt hangs (a SYN the kernel drops)
  ASSERT_EQ(failures(f.ct, id), 0u) << "the unanswering peer answered: cannot test the connect timeout";
  ASSERT_EQ(f.ct.snapshot().at(0).state, DestinationState::connecting);

  f.ct.set_destination_timing(timing(0.05, 0.05, 0.1));
  const auto changed = Clock::now();
  ASSERT_TRUE(test::wait_until([&] { return failures(f.ct, id) >= 1; }, 20s));
  EXPECT_LT(Clock::now() - changed, 2s) << "the attempt waited for the old connect timeout";
  EXPECT_TRUE(test::wait_until([&] { return failures(f.ct, id) >= 4; }, 5s))
      << "connect_failures " << failures(f.ct, id) << " with a 100 ms connect timeout";
  EXPECT_EQ(f.ct.snapshot().at(0).last_error, "connect timed out");
  f.ct.drain_and_stop(0ms);
}

TEST(ClientThreadTiming, InvalidTimingIsRefused) {
  Fixture f(timing(0.1, 10, 5));
  EXPECT_THROW(f.ct.set_destination_timing(timing(0, 10, 5)), std::invalid_argument);
  EXPECT_THROW(f.ct.set_destination_timing(timing(0.1, 10, -1)), std::invalid_argument);
  EXPECT_THROW(f.ct.set_destination_timing(timing(0.1, NAN, 5)), std::invalid_argument);
  EXPECT_THROW(f.ct.set_destination_timing(timing(2, 1, 5)), std::invalid_argument);
  DestinationConfig no_keepalive = timing(0.1, 10, 5);
  no_keepalive.keepalive_count = 0;
  EXPECT_THROW(f.ct.set_destination_timing(no_keepalive), std::invalid_argument);
}

}  // namespace
}  // namespace relay
