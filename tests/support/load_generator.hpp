// load_generator: a steady stream of make_payload() datagrams on its own thread, for tests that
// change relayd while traffic flows.
//
// Sends at about `rate` messages per second (the sleep between bursts is pacing, not
// synchronisation) with sequence numbers 0, 1, 2, ... and never more than `window` messages
// ahead of delivered() (the permanent destination's count), so a slow sanitized relayd sees the
// rate drop instead of the kernel dropping datagrams. If delivery stalls for `stall_timeout`
// (scaled) the generator stops and stalled() says so.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace relay::test {

class LoadGenerator {
 public:
  struct Options {
    std::uint16_t port = 0;                  // relayd's UDP listener on 127.0.0.1
    double rate = 3000;                      // messages per second
    std::size_t size = 100;                  // payload bytes
    std::size_t window = 256;                // most messages sent but not yet delivered
    std::function<std::size_t()> delivered;  // messages delivered so far (thread-safe)
    std::chrono::milliseconds stall_timeout{10000};
  };

  explicit LoadGenerator(Options options);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  void start();
  // Stops sending and joins; returns how many messages were sent (seqs 0..n-1). Idempotent.
  std::uint64_t stop();

  std::uint64_t sent() const noexcept { return sent_.load(std::memory_order_acquire); }
  bool stalled() const noexcept { return stalled_.load(std::memory_order_acquire); }
  bool running() const noexcept { return thread_.joinable() && !stalled(); }
  // Waits (scaled) until at least n messages have been sent; false on timeout or stall.
  bool wait_for_sent(std::uint64_t n, std::chrono::milliseconds timeout) const;
  // What stalled (empty if nothing did).
  std::string stall_report() const;

 private:
  void run();

  Options options_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stalled_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> stalled_at_delivered_{0};
};

}  // namespace relay::test
