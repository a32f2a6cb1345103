#include "stream_checker.hpp"

#include <charconv>

#include "payload.hpp"

namespace relay::bench {
namespace {

// A run of decimal digits at the start of s; nullopt when there is none.
std::optional<std::uint64_t> leading_number(std::string_view s) noexcept {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end == s.data()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<Stamp> parse_graphite(std::string_view line) noexcept {
  if (!line.starts_with("bench.m")) return std::nullopt;
  const auto name_end = line.find(' ');
  const auto t = line.rfind(".t", name_end);
  if (name_end == std::string_view::npos || t == std::string_view::npos) return std::nullopt;
  const auto ts = leading_number(line.substr(t + 2, name_end - t - 2));
  const auto value_at = line.find_first_not_of(' ', name_end);
  if (!ts || value_at == std::string_view::npos) return std::nullopt;
  const auto seq = leading_number(line.substr(value_at));
  if (!seq) return std::nullopt;
  return Stamp{*seq, *ts};
}

std::optional<Stamp> StreamChecker::parse(std::string_view payload) const noexcept {
  if (format_ == PayloadFormat::graphite) return parse_graphite(payload);
  const auto seq = test::parse_seq(payload);
  if (!seq) return std::nullopt;
  return Stamp{*seq, test::parse_timestamp(payload).value_or(0)};
}

void StreamChecker::on_message(std::string_view payload, std::uint64_t now_ns) noexcept {
  const auto stamp = parse(payload);
  if (!stamp) {
    ++unparsable;
    return;
  }
  ++received;
  bytes += payload.size();
  if (first_ns == 0) first_ns = now_ns;
  last_ns = now_ns;
  if (have_seq_ && stamp->seq <= highest_)
    ++reordered;
  else {
    if (have_seq_) gaps += stamp->seq - highest_ - 1;
    highest_ = stamp->seq;
    have_seq_ = true;
  }
  const std::uint64_t ts = stamp->ts_ns ? stamp->ts_ns : now_ns;
  latency.record(now_ns > ts ? (now_ns - ts) / 1000 : 0);
}

}  // namespace relay::bench
