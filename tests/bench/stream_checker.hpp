// stream_checker: what relay_sink verifies about one destination's stream: order (gaps,
// duplicates/reorders by the payload's seq) and latency (now minus the payload's timestamp).
// The stream spans reconnects: a destination is one logical stream however many connections.
#pragma once

#include <cstdint>
#include <string_view>

#include "latency_histogram.hpp"

namespace relay::bench {

class StreamChecker {
 public:
  // One decoded message, received at now_ns (CLOCK_MONOTONIC).
  void on_message(std::string_view payload, std::uint64_t now_ns) noexcept;

  std::uint64_t received = 0;
  std::uint64_t bytes = 0;
  std::uint64_t gaps = 0;        // seqs never seen between two consecutive messages
  std::uint64_t reordered = 0;   // seq <= the highest seen before (duplicate or reorder)
  std::uint64_t unparsable = 0;  // not a seq payload (e.g. graphite lines): counted only
  std::uint64_t first_ns = 0, last_ns = 0;
  LatencyHistogram latency;

 private:
  bool have_seq_ = false;
  std::uint64_t highest_ = 0;
};

}  // namespace relay::bench
