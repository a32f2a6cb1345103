// stream_checker: what relay_sink verifies about one destination's stream: order (gaps,
// duplicates/reorders by the payload's seq) and latency (now minus the payload's timestamp).
// The stream spans reconnects: a destination is one logical stream however many connections.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "latency_histogram.hpp"

namespace relay::bench {

// What the payloads are: relay_gen's seq layout (tests/support/payload.hpp) or its graphite
// lines "bench.m<k>.t<mono ns> <seq> <unix s>" (as a graphite relay may re-space them).
enum class PayloadFormat { seq, graphite };

struct Stamp {
  std::uint64_t seq = 0;
  std::uint64_t ts_ns = 0;
};

// The seq and send time of one graphite line; nullopt for any other line (e.g. a relay's own
// statistics metrics).
std::optional<Stamp> parse_graphite(std::string_view line) noexcept;

class StreamChecker {
 public:
  explicit StreamChecker(PayloadFormat format = PayloadFormat::seq) : format_(format) {}

  // One decoded message, received at now_ns (CLOCK_MONOTONIC).
  void on_message(std::string_view payload, std::uint64_t now_ns) noexcept;
  // Forgets everything (a new trial starts; the generator restarts at seq 0).
  void reset() noexcept { *this = StreamChecker(format_); }

  std::uint64_t received = 0;  // messages in the expected format
  std::uint64_t bytes = 0;
  std::uint64_t gaps = 0;        // seqs never seen between two consecutive messages
  std::uint64_t reordered = 0;   // seq <= the highest seen before (duplicate or reorder)
  std::uint64_t unparsable = 0;  // anything else: counted only, not in `received`
  std::uint64_t first_ns = 0, last_ns = 0;
  LatencyHistogram latency;

 private:
  std::optional<Stamp> parse(std::string_view payload) const noexcept;

  PayloadFormat format_;
  bool have_seq_ = false;
  std::uint64_t highest_ = 0;
};

}  // namespace relay::bench
