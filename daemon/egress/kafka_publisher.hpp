// kafka_publisher: a kafka@ destination's Publisher (publisher.hpp), through librdkafka.
//
// An idempotent producer with acks=all: a message is acknowledged when every in-sync replica
// stored it, exactly once, in the order produced per partition; librdkafka retries on its own
// until message.timeout.ms (timeout_ms=), after which the message is reported failed and
// PublishDestination sends it again. Options and their checks: kafka_options.hpp; the whole
// story (keys, accounting, tests): docs/KAFKA.md.
//
// Threads: librdkafka's own threads talk to the brokers. Nothing on the client thread waits for
// them: publish() copies the message into librdkafka's queue (RD_KAFKA_MSG_F_COPY) or returns
// false when that queue is full; delivery reports and errors are served by rd_kafka_poll(rk, 0)
// in poll(); librdkafka wakes the client thread (PublishEvents::wake) when its report queue goes
// from empty to non-empty; the handle is destroyed on kafka_reaper's thread.
//
// Connection state (librdkafka reports no "connected" event, so it is inferred): connected once
// the cluster answered (its controller is known, or a message was acknowledged); down
// (backing_off, connect_failures or disconnects counted, last_error set) when librdkafka reports
// every broker down or the producer's fatal error; connected again with the next acknowledgement.
// A single broker lost while others serve is logged, not a state change: its partitions wait for
// it (or for a new leader) inside librdkafka.
#pragma once

#include <memory>

#include "publisher.hpp"

namespace relay {

// Throws EndpointError for an option it does not take (or a librdkafka property librdkafka
// refuses), std::runtime_error when librdkafka cannot create the producer.
std::unique_ptr<Publisher> make_kafka_publisher(const Endpoint& endpoint);
// The options checked as make_kafka_publisher checks them, building nothing.
void check_kafka_publisher(const Endpoint& endpoint);

}  // namespace relay
