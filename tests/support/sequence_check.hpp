// sequence_check: what a received message list says about order, loss and duplication, judged
// from the seq numbers make_payload() embeds.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace relay::test {

struct SequenceReport {
  std::size_t count = 0;
  std::size_t unparsable = 0;    // messages that are not make_payload() payloads
  std::size_t missing = 0;       // seqs skipped between consecutive messages
  std::size_t out_of_order = 0;  // messages whose seq is <= the previous one (reorder or duplicate)
  std::uint64_t first = 0, last = 0;

  bool in_order_without_duplicates() const { return unparsable == 0 && out_of_order == 0; }
  bool contiguous() const { return in_order_without_duplicates() && missing == 0; }
};

SequenceReport check_sequence(const std::vector<std::string>& messages, std::size_t begin = 0,
                              std::size_t end = static_cast<std::size_t>(-1));

std::vector<std::uint64_t> seqs(const std::vector<std::string>& messages);

// Success when `messages` are exactly seqs 0..total-1, in order, once each; else what differs.
::testing::AssertionResult is_whole_stream(const std::vector<std::string>& messages, std::uint64_t total);

}  // namespace relay::test
