#include "nats_settings.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <random>

#include "printable.hpp"

namespace relay {
namespace {

constexpr std::size_t kMaxPrefix = 64;

[[noreturn]] void refuse(const Endpoint& ep, std::string_view key, std::string_view value, std::string_view accepted) {
  throw EndpointError(
      fmt::format("nats@{}/{}: option {}={}: {}", ep.host, ep.topic, printable(key), printable(value), accepted));
}

std::int64_t number(const Endpoint& ep, const std::string& key, const std::string& value, std::int64_t lo,
                    std::int64_t hi) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc{} || end != value.data() + value.size() || v < lo || v > hi)
    refuse(ep, key, value, fmt::format("expected a whole number from {} to {}", lo, hi));
  return v;
}

bool prefix_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

// HOSTNAME-RANDOM: the host tells a reader of the stream which relay wrote a message; the random
// part keeps this publisher's ids apart from those of an earlier one whose queue also began at 0.
std::string default_prefix() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string name;
  for (const char* c = host; *c != '\0' && name.size() < 40; ++c) name.push_back(prefix_char(*c) ? *c : '_');
  if (name.empty()) name = "relayd";
  std::random_device rd;
  const std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  return fmt::format("{}-{:016x}", name, r);
}

}  // namespace

NatsSettings parse_nats_settings(const Endpoint& ep) {
  NatsSettings s;
  for (const auto& server : ep.servers) s.urls.push_back("nats://" + server);
  s.subject = ep.topic;
  for (const auto& [key, value] : ep.options) {
    if (key == "inflight") {
      s.max_in_flight = static_cast<std::size_t>(number(ep, key, value, 1, 65536));
    } else if (key == "timeout_ms") {
      s.ack_timeout_ms = number(ep, key, value, 100, 600000);
    } else if (key == "ordered") {
      if (value != "0" && value != "1") refuse(ep, key, value, "expected 0 or 1");
      s.ordered = value == "1";
    } else if (key == "msg_id_prefix") {
      if (value.size() > kMaxPrefix || !std::ranges::all_of(value, prefix_char))
        refuse(ep, key, value, fmt::format("expected 1 to {} of [A-Za-z0-9._-]", kMaxPrefix));
      s.msg_id_prefix = value;
    } else if (key == "reconnect_wait_ms") {
      s.reconnect_wait_ms = number(ep, key, value, 10, 60000);
    } else {
      refuse(ep, key, value,
             "unknown option; nats@ takes inflight=, timeout_ms=, ordered=, msg_id_prefix=, reconnect_wait_ms=");
    }
  }
  if (s.msg_id_prefix.empty()) s.msg_id_prefix = default_prefix();
  return s;
}

}  // namespace relay
