// nats_settings: a nats@ address's options, checked, with their defaults — what NatsPublisher
// (nats_publisher.hpp) and its session thread (nats_session.hpp) run with.
//
// Options (KEY=VALUE, '&'-separated, after '?'):
//   inflight=N        messages published and not yet acknowledged, at most (1..65536; 1024)
//   timeout_ms=N      how long an acknowledgement may take before the message counts as failed
//                     and is sent again (100..600000; 5000)
//   ordered=0|1       1 (default): each message expects the previous one as the stream's last
//                     (Nats-Expected-Last-Msg-Id), so a resend after a failure can never land
//                     behind a later message; 0 for a stream other publishers write too
//   msg_id_prefix=P   the Nats-Msg-Id prefix ([A-Za-z0-9._-], 1..64); default HOSTNAME-RANDOM,
//                     new for each publisher (queue ids restart with the queue, a stable prefix
//                     would make the stream drop new messages as duplicates of old ones)
//   reconnect_wait_ms=N  pause between reconnect rounds over the servers (10..60000; 250)
// Thread: any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "endpoint.hpp"

namespace relay {

struct NatsSettings {
  std::vector<std::string> urls;  // "nats://HOST:PORT", one per server, as written
  std::string subject;
  std::size_t max_in_flight = 1024;
  std::int64_t ack_timeout_ms = 5000;
  bool ordered = true;
  std::string msg_id_prefix;
  std::int64_t reconnect_wait_ms = 250;
};

// Throws EndpointError naming the option and what it accepts.
NatsSettings parse_nats_settings(const Endpoint& endpoint);

}  // namespace relay
