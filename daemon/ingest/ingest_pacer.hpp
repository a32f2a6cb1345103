// ingest_pacer: how long the server loop lets datagrams pile up in the socket before it polls.
//
// Under light traffic it never waits: each datagram is relayed as soon as it arrives. Under heavy
// traffic (a wait of `max_delay` would collect at least kMinBatch messages) it waits up to
// `max_delay` between polls, so every wake-up handles a big batch: fewer epoll_wait and recvmmsg
// calls, fewer client-thread wake-ups and fewer, larger TCP writes per message. The added latency
// is bounded by `max_delay` and only paid when the relay is busy.
//
// The wait is also capped so that what arrives meanwhile fills at most a quarter of the smallest
// UDP receive buffer, and pacing pauses for a while after the kernel dropped datagrams: pacing
// must never be the reason a datagram is lost.
#pragma once

#include <cstdint>

namespace relay {

struct IngestTotals {
  std::uint64_t messages = 0;      // accepted so far, all listeners
  std::uint64_t bytes = 0;         // their payload bytes
  std::uint64_t kernel_drops = 0;  // datagrams the kernel dropped so far
};

class IngestPacer {
 public:
  static constexpr double kWindow = 0.010;              // seconds over which the rate is measured
  static constexpr double kMinBatch = 128;              // messages a wait must collect to be worth it
  static constexpr double kPerDatagramOverhead = 1024;  // kernel bytes per datagram beyond payload
  static constexpr int kPauseWindowsAfterDrop = 10;

  // max_delay: seconds (0 = never wait); smallest_rcvbuf: bytes, 0 when no UDP listener.
  IngestPacer(double max_delay, std::uint64_t smallest_rcvbuf) noexcept
      : max_delay_(max_delay), rcvbuf_(smallest_rcvbuf) {}

  // Once per loop iteration with the loop's clock (seconds): whether update() wants the totals.
  bool due(double now) const noexcept { return max_delay_ > 0 && now - window_start_ >= kWindow; }
  // At the end of a window: the totals so far in, the wait before each poll (seconds) out.
  double update(double now, const IngestTotals& totals) noexcept;

 private:
  double delay_for(double seconds, const IngestTotals& delta) const noexcept;

  const double max_delay_;
  const std::uint64_t rcvbuf_;
  double window_start_ = -kWindow;  // the first update() only starts a window
  IngestTotals at_window_start_;
  bool started_ = false;
  int paused_windows_ = 0;
  double delay_ = 0;
};

}  // namespace relay
