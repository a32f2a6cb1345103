// kafka_options: what a kafka@ address's options ask for (the syntax is in docs/KAFKA.md), checked
// whole before anything is built, so a bad option is refused at start-up or by the API with one
// line naming it.
//
// Options: key=none|payload|field|bytes:OFFSET-LENGTH, compression=none|gzip|snappy|lz4|zstd,
// linger_ms=, batch_size=, batch_messages=, timeout_ms=, inflight=, and rdkafka.NAME=VALUE for any
// other librdkafka property (checked by librdkafka itself, in kafka_publisher.cpp). What relayd's
// guarantees rest on is not negotiable: enable.idempotence=true and acks=all always, and the
// properties that would undo them (or that an option above already sets) are refused as
// rdkafka.NAME.
// Thread: any; no state.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "endpoint.hpp"
#include "shard.hpp"

namespace relay {

struct KafkaOptions {
  // The message key: none (librdkafka's partitioner spreads null keys), the part of the payload
  // `key` names, or (payload_hash) the whole payload's 64-bit XXH3 hash as 8 big-endian bytes.
  std::optional<ShardKey> key;
  bool payload_hash = false;
  std::size_t inflight = 100'000;  // Publisher::max_in_flight()
  // A librdkafka property, and the option it comes from as written (empty: relayd's own), so
  // librdkafka's refusal can name what the user wrote.
  struct Property {
    std::string name;
    std::string value;
    std::string option;
  };
  // In the order they are to be set: relayd's fixed ones and defaults first, then the named
  // options, then rdkafka.NAME pass-throughs.
  std::vector<Property> properties;
};

// Throws EndpointError naming the option and what it accepts.
KafkaOptions parse_kafka_options(const Endpoint& endpoint);

}  // namespace relay
