// publisher: what a PublishDestination (publish_destination.hpp) hands messages to and hears back
// from — a client library with its own threads (kafka_publisher: librdkafka; nats_publisher:
// libnats JetStream) or a destination group's member connections (group_publisher).
//
// The contract, which PublishDestination's accounting rests on:
//  - publish() never blocks: it copies the message (or sends it) and returns, or returns false
//    when the publisher cannot take more now (the destination tries again after the next
//    completion, wake-up or tick).
//  - Every message publish() took is reported exactly once, through PublishEvents, as
//    acknowledged (stored by the broker, acknowledged by the peer), failed (not stored, or not
//    known to be: the destination sends it again) or rejected (refused for good: dropped,
//    counted). A message the library refuses outright is taken and reported rejected too, so
//    one bad message never holds up the stream. In any order, but never from inside
//    publish() itself, and always eventually: a publisher times out what its library never
//    answers.
//  - Reports reach PublishEvents on the client thread only: from poll(), or from the
//    publisher's own watchers on the client thread's loop. A library thread calls
//    PublishEvents::wake() (thread-safe), and the client thread then calls poll().
//  - Destroying a publisher must not block the client thread for more than a moment: a
//    library whose teardown waits (a flush, joining its threads) is torn down elsewhere.
//
// Thread: built on any thread (make_publisher, on the caller's thread so a bad option is the
// caller's error); everything else on the client thread.
#pragma once

#include <ev.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "destination_shared.hpp"
#include "egress_config.hpp"
#include "endpoint.hpp"

namespace relay {

class PublishEvents {
 public:
  virtual void acknowledged(std::uint64_t id) = 0;
  virtual void failed(std::uint64_t id, std::string_view why) = 0;
  // Refused for good (larger than the broker takes, invalid): sending it again cannot help, so
  // it is passed and counted as dropped_rejected rather than resent forever.
  virtual void rejected(std::uint64_t id, std::string_view why) = 0;
  // The connection to the broker (or, for a group, to its members as a whole) is `state`;
  // `error` is the reason when it went down, shown as last_error. The publisher logs it (once
  // per change: it knows what changed); the destination only shows it.
  virtual void connection(DestinationState state, std::string_view error) = 0;
  // Any thread: reports are waiting; the client thread will call Publisher::poll().
  virtual void wake() noexcept = 0;

 protected:
  ~PublishEvents() = default;
};

class Publisher {
 public:
  virtual ~Publisher() = default;
  // Once, on the client thread, before any other call: starts connecting. `shared` holds the
  // destination's counters (publishers count connects, disconnects, connect_failures there).
  virtual void start(struct ev_loop* loop, PublishEvents& events, DestinationShared& shared) = 0;
  // Hands message `id` over. False: nothing taken, try again later.
  virtual bool publish(std::uint64_t id, std::span<const std::byte> payload) = 0;
  // Reports what completed since the last call. Called after every wake() and on the client
  // thread's tick (every 100 ms), so a publisher may measure its timeouts here.
  virtual void poll() = 0;
  // The most messages worth having in flight at once (the destination's window).
  virtual std::size_t max_in_flight() const noexcept = 0;
  virtual void set_timing(const DestinationConfig&) {}
};

// The publisher `endpoint` names: kafka@, nats@, hash@/any@/failover@. Any thread. Throws
// EndpointError for an option the publisher does not take, std::runtime_error when its library
// refuses the configuration.
std::unique_ptr<Publisher> make_publisher(const Endpoint& endpoint);
// Checks the options as make_publisher does, building nothing (no library handle, no thread, no
// connection): for start-up and --check-config. Throws EndpointError.
void check_publisher(const Endpoint& endpoint);

}  // namespace relay
