#include "stream_checker.hpp"

#include "payload.hpp"

namespace relay::bench {

void StreamChecker::on_message(std::string_view payload, std::uint64_t now_ns) noexcept {
  ++received;
  bytes += payload.size();
  if (first_ns == 0) first_ns = now_ns;
  last_ns = now_ns;
  const auto seq = test::parse_seq(payload);
  if (!seq) {
    ++unparsable;
    return;
  }
  if (have_seq_ && *seq <= highest_) ++reordered;
  else {
    if (have_seq_) gaps += *seq - highest_ - 1;
    highest_ = *seq;
    have_seq_ = true;
  }
  const auto ts = test::parse_timestamp(payload).value_or(now_ns);
  latency.record(now_ns > ts ? (now_ns - ts) / 1000 : 0);
}

}  // namespace relay::bench
