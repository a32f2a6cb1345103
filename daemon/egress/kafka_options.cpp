#include "kafka_options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <string_view>

#include "printable.hpp"

namespace relay {
namespace {

constexpr std::string_view kPassThrough = "rdkafka.";

[[noreturn]] void refuse(std::string_view key, std::string_view value, std::string_view accepted) {
  throw EndpointError(
      fmt::format("kafka@ option \"{}={}\": {}", printable(key), printable(value), printable(accepted)));
}

std::uint64_t number(std::string_view key, std::string_view value, std::uint64_t lo, std::uint64_t hi) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc{} || end != value.data() + value.size() || n < lo || n > hi)
    refuse(key, value, fmt::format("expected a whole number from {} to {}", lo, hi));
  return n;
}

// librdkafka properties a pass-through may not set: relayd's guarantees (idempotence, acks, the
// servers of the address), and what a named option sets (one spelling per setting), with aliases.
constexpr std::array<std::pair<std::string_view, std::string_view>, 17> kReserved{{
    {"bootstrap.servers", "the address's servers"},
    {"metadata.broker.list", "the address's servers"},
    {"enable.idempotence", "always true"},
    {"acks", "always all"},
    {"request.required.acks", "always all"},
    {"transactional.id", "not supported"},
    {"linger.ms", "use linger_ms="},
    {"queue.buffering.max.ms", "use linger_ms="},
    {"batch.size", "use batch_size="},
    {"batch.num.messages", "use batch_messages="},
    {"message.timeout.ms", "use timeout_ms="},
    {"delivery.timeout.ms", "use timeout_ms="},
    {"compression.codec", "use compression="},
    {"compression.type", "use compression="},
    {"queue.buffering.max.messages", "use inflight="},
    {"dr_msg_cb", "set by relayd"},
    {"opaque", "set by relayd"},
}};

}  // namespace

KafkaOptions parse_kafka_options(const Endpoint& endpoint) {
  KafkaOptions out;
  // Fixed: what "acknowledged" means to PublishDestination (stored by every in-sync replica, once).
  out.properties = {
      {"bootstrap.servers", fmt::format("{}", fmt::join(endpoint.servers, ",")), ""},
      {"enable.idempotence", "true", ""},
      {"acks", "all", ""},
      {"client.id", "relayd", ""},
      // A broker closing an idle connection is routine, not a fault worth an error event.
      {"log.connection.close", "false", ""},
      // librdkafka's own copy of what is in flight, on top of relayd's queue budget: 64 MiB unless
      // rdkafka.queue.buffering.max.kbytes says otherwise (librdkafka's default is 1 GiB).
      {"queue.buffering.max.kbytes", "65536", ""},
  };
  std::vector<KafkaOptions::Property> named;
  std::vector<KafkaOptions::Property> passed;
  for (const auto& [key, value] : endpoint.options) {
    const std::string written = key + "=" + value;
    if (key == "key") {
      // bytes: LENGTH at least 1 (an empty key would send everything to one partition).
      constexpr std::size_t kMaxKeyBytes = std::size_t{1} << 24;
      if (value == "none") {
        out.key.reset();
      } else if (const auto parsed = parse_shard_key(value, kMaxKeyBytes)) {
        out.key = parsed;
        out.payload_hash = parsed->kind == ShardKeyKind::payload;
      } else {
        refuse(key, value, "expected none, payload, field or bytes:OFFSET-LENGTH (LENGTH 1 or more)");
      }
    } else if (key == "compression") {
      constexpr std::array<std::string_view, 5> kCodecs{"none", "gzip", "snappy", "lz4", "zstd"};
      if (std::ranges::find(kCodecs, value) == kCodecs.end())
        refuse(key, value, "expected none, gzip, snappy, lz4 or zstd");
      named.push_back({"compression.codec", value, written});
    } else if (key == "linger_ms") {
      named.push_back({"linger.ms", std::to_string(number(key, value, 0, 900'000)), written});
    } else if (key == "batch_size") {
      named.push_back({"batch.size", std::to_string(number(key, value, 1, 2'147'483'647)), written});
    } else if (key == "batch_messages") {
      named.push_back({"batch.num.messages", std::to_string(number(key, value, 1, 1'000'000)), written});
    } else if (key == "timeout_ms") {
      // 0 is librdkafka's "never time out": the publisher contract needs every message reported.
      named.push_back({"message.timeout.ms", std::to_string(number(key, value, 1, 2'147'483'647)), written});
    } else if (key == "inflight") {
      out.inflight = number(key, value, 1, 1'000'000);
    } else if (key.starts_with(kPassThrough) && key.size() > kPassThrough.size()) {
      const std::string_view name = std::string_view(key).substr(kPassThrough.size());
      const auto reserved = std::ranges::find(kReserved, name, [](const auto& r) { return r.first; });
      if (reserved != kReserved.end()) refuse(key, value, fmt::format("{} cannot be set ({})", name, reserved->second));
      passed.push_back({std::string(name), value, written});
    } else {
      refuse(key, value,
             "unknown option (expected key, compression, linger_ms, batch_size, batch_messages, timeout_ms, "
             "inflight or rdkafka.NAME)");
    }
  }
  // librdkafka refuses a produce beyond this many unacknowledged messages; matching the window
  // means the window, not QUEUE_FULL, is what normally holds the destination back.
  out.properties.push_back({"queue.buffering.max.messages", std::to_string(out.inflight), ""});
  out.properties.insert(out.properties.end(), named.begin(), named.end());
  out.properties.insert(out.properties.end(), passed.begin(), passed.end());
  return out;
}

}  // namespace relay
