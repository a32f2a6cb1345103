// publish_destination: a destination that hands messages to a Publisher (publisher.hpp) — a
// kafka@ topic, a nats@ JetStream subject, a destination group — and counts a message as sent
// only when the publisher reports it acknowledged.
//
// Two cursors, as for an at-least-once TCP destination: `cursor_`, the next message to hand
// over, and `acked_`, the first one not acknowledged, which is the published cursor (the
// reclaimer keeps everything from it, drains wait for it, checkpoints record it). Between them
// lie the messages in flight, at most the publisher's max_in_flight(); a ring keeps each one's
// report, since reports may come in any order and acked_ only passes an unbroken run of
// acknowledged ones.
//
// A failure keeps order: the destination stops handing messages over, waits for the report of
// every message in flight, then moves `cursor_` back to `acked_` and, after a backoff
// (reconnect_min doubling up to reconnect_max), hands them over again — the failed one and every
// one after it (`resent_unacked`; those a broker already stored may be stored twice unless it
// drops duplicates, as JetStream does by message id). So the broker receives the stream in
// order, and nothing passes acked_ unacknowledged.
//
// When the queue budget's floor overtakes acked_, the messages it passes are counted as
// dropped_lagging (even those in flight: nobody knows yet whether they arrive) and late
// reports for them are ignored. A removal counts what is not acknowledged as dropped_removed.
// A message the broker refuses for good is passed like an acknowledged one but counted as
// dropped_rejected (and logged), so it cannot hold up the stream.
//
// Thread: client thread only.
#pragma once

#include <ev.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "cursor.hpp"
#include "destination.hpp"
#include "log_limiter.hpp"
#include "publisher.hpp"

namespace relay {

class PublishDestination final : public Destination, private PublishEvents {
 public:
  PublishDestination(struct ev_loop* loop, Queue& queue, std::shared_ptr<DestinationShared> shared, StartAt start,
                     const DestinationConfig& cfg, std::unique_ptr<Publisher> publisher,
                     std::optional<std::uint64_t> resume);
  ~PublishDestination() override;

  void start() override;
  void on_data() override;
  void begin_drain() override;
  void set_timing(const DestinationConfig& cfg) override;
  bool reached(std::uint64_t target) const override { return acked_.id() >= target; }
  void poll_acks() override;
  void settle_unacked() override { poll_acks(); }  // in flight and unreported: not known delivered
  bool mid_message() const noexcept override { return false; }
  std::uint64_t message_in_progress_end() const noexcept override { return acked_.id(); }
  std::uint64_t unsent(std::uint64_t tail) const override { return tail > acked_.id() ? tail - acked_.id() : 0; }
  void refresh_gauges() override;

 private:
  enum class Report : std::uint8_t { none, acknowledged, failed, rejected };

  // PublishEvents
  void acknowledged(std::uint64_t id) override;
  void failed(std::uint64_t id, std::string_view why) override;
  void rejected(std::uint64_t id, std::string_view why) override;
  void connection(DestinationState state, std::string_view error) override;
  void wake() noexcept override { ev_async_send(loop_, &wake_); }

  void serve();  // the publisher's reports, then whatever they allow
  void pump();
  void advance_acked();
  void apply_floor();
  void forget_reports(std::uint64_t from, std::uint64_t to);
  void rewind_if_settled();
  bool in_flight(std::uint64_t id) const noexcept { return id >= acked_.id() && id < cursor_.id(); }
  Report& report(std::uint64_t id) noexcept { return reports_[id & (reports_.size() - 1)]; }
  void set_error(std::string_view why);
  static void on_wake(struct ev_loop* loop, ev_async* w, int revents);
  static void on_retry(struct ev_loop* loop, ev_timer* w, int revents);

  struct ev_loop* loop_;
  DestinationConfig timing_;
  std::unique_ptr<Publisher> publisher_;
  Cursor cursor_;
  Cursor acked_;
  std::vector<MessageView> views_;
  std::vector<Report> reports_;  // a ring, a power of two at least the window
  std::size_t window_;
  std::uint64_t reported_ = 0;  // reports held in the ring for messages in flight
  bool failing_ = false;        // a failure came: hand nothing over until every report is in
  bool draining_ = false;
  int backoff_step_ = 0;  // failures in a row
  LogLimiter failure_log_;
  LogLimiter reject_log_;
  ev_async wake_{};
  ev_timer retry_{};
};

}  // namespace relay
