// destination: what the client thread drives for each configured destination — one reader of
// the queue with its own cursor, whatever it sends to. The kinds:
//  - tcp_destination: a tcp@ or tls@ peer, written straight from queue memory;
//  - publish_destination: a kafka@ topic, a nats@ JetStream subject, or a destination group
//    (hash@, any@, failover@ members), each through a Publisher that acknowledges messages
//    asynchronously.
// Every kind publishes one cursor (DestinationShared::cursor): the first message it has not
// delivered. The reclaimer, drains, checkpoints and snapshots read only that, so they are the
// same for every kind.
//
// Thread: client thread only; what other threads read is in DestinationShared.
#pragma once

#include <ev.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "destination_shared.hpp"
#include "egress_config.hpp"
#include "queue.hpp"
#include "start_at.hpp"

namespace relay {

class Publisher;

class Destination {
 public:
  virtual ~Destination() = default;
  Destination(const Destination&) = delete;
  Destination& operator=(const Destination&) = delete;

  virtual void start() = 0;    // first connection attempt
  virtual void on_data() = 0;  // new messages were published, or the floor moved
  virtual void begin_drain() = 0;
  virtual void set_timing(const DestinationConfig& cfg) = 0;
  // Every message before `target` delivered (acknowledged where the kind has acknowledgements).
  virtual bool reached(std::uint64_t target) const = 0;
  virtual void poll_acks() = 0;  // the client thread's tick: acknowledgements not signalled otherwise
  // Being removed: what is handed over but unacknowledged counts as sent (nothing will resend it).
  virtual void settle_unacked() = 0;
  // A message is half written: a removal finishes it first (TCP frames are never cut).
  virtual bool mid_message() const noexcept = 0;
  virtual std::uint64_t message_in_progress_end() const noexcept = 0;
  // Messages before `tail` it has not delivered: what a removal counts as dropped_removed.
  virtual std::uint64_t unsent(std::uint64_t tail) const = 0;
  virtual void refresh_gauges() = 0;

  const std::shared_ptr<DestinationShared>& shared() const noexcept { return shared_; }

 protected:
  explicit Destination(std::shared_ptr<DestinationShared> shared) : shared_(std::move(shared)) {}
  std::shared_ptr<DestinationShared> shared_;
};

// The kind `shared->endpoint` names. `publisher`: built on the caller's thread for kafka@,
// nats@ and groups (make_publisher, publisher.hpp), null for tcp@/tls@. `resume`: a position
// recorded in the data directory before a restart; the cursor starts there.
std::unique_ptr<Destination> make_destination(struct ev_loop* loop, Queue& queue,
                                              std::shared_ptr<DestinationShared> shared, StartAt start,
                                              const DestinationConfig& cfg, std::unique_ptr<Publisher> publisher,
                                              std::optional<std::uint64_t> resume);

}  // namespace relay
