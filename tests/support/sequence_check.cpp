#include "sequence_check.hpp"

#include <algorithm>

#include "payload.hpp"

namespace relay::test {

SequenceReport check_sequence(const std::vector<std::string>& messages, std::size_t begin, std::size_t end) {
  SequenceReport r;
  end = std::min(end, messages.size());
  bool have_prev = false;
  for (std::size_t i = begin; i < end; ++i) {
    const auto seq = parse_seq(messages[i]);
    if (!seq) {
      ++r.unparsable;
      continue;
    }
    if (!have_prev)
      r.first = *seq;
    else if (*seq <= r.last)
      ++r.out_of_order;
    else
      r.missing += *seq - r.last - 1;
    if (!have_prev || *seq > r.last) r.last = *seq;
    have_prev = true;
    ++r.count;
  }
  return r;
}

::testing::AssertionResult is_whole_stream(const std::vector<std::string>& messages, std::uint64_t total) {
  const SequenceReport r = check_sequence(messages);
  const bool ends_right = total == 0 || (r.first == 0 && r.last == total - 1);
  if (messages.size() == total && ends_right && r.contiguous()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << messages.size() << " messages of " << total << ", seqs " << r.first << ".."
                                       << r.last << ", missing " << r.missing << ", out of order " << r.out_of_order
                                       << ", unparsable " << r.unparsable;
}

std::vector<std::uint64_t> seqs(const std::vector<std::string>& messages) {
  std::vector<std::uint64_t> out;
  out.reserve(messages.size());
  for (const auto& m : messages) out.push_back(parse_seq(m).value_or(~std::uint64_t{0}));
  return out;
}

}  // namespace relay::test
