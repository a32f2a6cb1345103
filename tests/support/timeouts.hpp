// timeouts: bounded waiting. Every wait in the harness has a deadline so a hang fails fast, and
// every deadline is stretched by the build's scale so sanitized builds are not flaky.
#pragma once

#include <chrono>
#include <thread>

namespace relay::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The build's factor (1 Release, 4 ASan, 8 TSan); the env var RELAY_TEST_TIMEOUT_SCALE overrides.
double timeout_scale();

// `base` stretched by timeout_scale(). Harness functions apply it themselves; tests call it only
// for durations they measure directly.
std::chrono::milliseconds scaled(std::chrono::milliseconds base);

// Polls `done` until true or `timeout` (scaled) passes; returns the last result. The short sleep
// is the polling period, not synchronisation: the condition itself is what is awaited.
template <typename Pred>
bool wait_until(Pred done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + scaled(timeout);
  while (!done()) {
    if (Clock::now() >= deadline) return done();
    std::this_thread::sleep_for(200us);
  }
  return true;
}

}  // namespace relay::test
