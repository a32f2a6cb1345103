#include "load_generator.hpp"

#include "payload.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {

LoadGenerator::LoadGenerator(Options options) : options_(std::move(options)) {}

LoadGenerator::~LoadGenerator() { stop(); }

void LoadGenerator::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

std::uint64_t LoadGenerator::stop() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  return sent();
}

bool LoadGenerator::wait_for_sent(std::uint64_t n, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return sent() >= n || stalled(); }, timeout) && sent() >= n;
}

std::string LoadGenerator::stall_report() const {
  if (!stalled()) return {};
  return "load generator stalled: " + std::to_string(stalled_at_delivered_.load()) + " of " + std::to_string(sent()) +
         " messages delivered after " + std::to_string(scaled(options_.stall_timeout).count()) + " ms";
}

void LoadGenerator::run() {
  UdpSender sender(options_.port);
  const auto begin = Clock::now();
  std::uint64_t sent = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - begin).count();
    const auto due = static_cast<std::uint64_t>(elapsed * options_.rate);
    while (sent < due && !stop_.load(std::memory_order_acquire)) {
      // Keep at most `window` in flight: UDP has no backpressure of its own.
      if (options_.delivered() + options_.window <= sent) {
        const bool caught_up = wait_until(
            [&] { return stop_.load(std::memory_order_acquire) || options_.delivered() + options_.window > sent; },
            options_.stall_timeout);
        if (!caught_up) {
          stalled_at_delivered_.store(options_.delivered());
          stalled_.store(true, std::memory_order_release);
          return;
        }
        continue;
      }
      sender.send(make_payload(sent, options_.size));
      ++sent;
      sent_.store(sent, std::memory_order_release);
    }
    std::this_thread::sleep_for(1ms);  // pacing between bursts
  }
}

}  // namespace relay::test
