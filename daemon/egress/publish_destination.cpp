#include "publish_destination.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>

#include "clock.hpp"
#include "printable.hpp"

namespace relay {

namespace {

constexpr std::size_t kMaxWindow = std::size_t{1} << 20;  // a ring byte per message in flight
constexpr std::size_t kPeek = 256;                        // messages looked at per hand-over round

}  // namespace

PublishDestination::PublishDestination(struct ev_loop* loop, Queue& queue, std::shared_ptr<DestinationShared> shared,
                                       StartAt start, const DestinationConfig& cfg,
                                       std::unique_ptr<Publisher> publisher, std::optional<std::uint64_t> resume)
    : Destination(std::move(shared)),
      loop_(loop),
      timing_(cfg),
      publisher_(std::move(publisher)),
      cursor_(queue, resume ? StartAt::head : start),
      acked_(queue, start),
      views_(kPeek),
      window_(std::clamp<std::size_t>(publisher_->max_in_flight(), 1, kMaxWindow)) {
  reports_.assign(std::bit_ceil(window_), Report::none);
  if (resume) cursor_.walk_to(*resume);
  acked_.move_to(cursor_);  // the same message: joined separately, it could be a later tail
  ev_async_init(&wake_, &PublishDestination::on_wake);
  wake_.data = this;
  ev_init(&retry_, &PublishDestination::on_retry);
  retry_.data = this;
  refresh_gauges();
}

PublishDestination::~PublishDestination() {
  ev_async_stop(loop_, &wake_);
  ev_timer_stop(loop_, &retry_);
  publisher_.reset();  // before the cursors: it may still hold views of nothing, but reports stop here
}

void PublishDestination::start() {
  ev_async_start(loop_, &wake_);
  shared_->state.set(DestinationState::connecting);
  publisher_->start(loop_, *this, *shared_);
  publisher_->set_timing(timing_);
  pump();
}

void PublishDestination::on_data() {
  apply_floor();
  pump();
}

void PublishDestination::begin_drain() {
  draining_ = true;
  shared_->state.set(DestinationState::draining);
}

void PublishDestination::set_timing(const DestinationConfig& cfg) {
  timing_ = cfg;
  publisher_->set_timing(cfg);
}

void PublishDestination::poll_acks() { serve(); }

void PublishDestination::on_wake(struct ev_loop*, ev_async* w, int) {
  static_cast<PublishDestination*>(w->data)->serve();
}

void PublishDestination::on_retry(struct ev_loop*, ev_timer* w, int) {
  static_cast<PublishDestination*>(w->data)->pump();
}

void PublishDestination::serve() {
  publisher_->poll();
  advance_acked();
  rewind_if_settled();
  apply_floor();
  pump();
}

// Hands messages over while the window has room and the publisher takes them.
void PublishDestination::pump() {
  if (failing_ || ev_is_active(&retry_)) return;
  while (cursor_.id() - acked_.id() < window_) {
    const std::size_t room = std::min<std::size_t>(views_.size(), window_ - (cursor_.id() - acked_.id()));
    const std::size_t have = cursor_.peek(std::span(views_).first(room));
    std::size_t taken = 0;
    std::uint64_t bytes = 0;
    for (; taken < have; ++taken) {
      const MessageView& v = views_[taken];
      if (!publisher_->publish(cursor_.id() + taken, std::span(v.payload, v.size))) break;
      bytes += v.size;
    }
    cursor_.advance(std::span(views_).first(taken));
    shared_->counters.sent_bytes.add(bytes);
    if (taken < have || have < room) break;  // the publisher is full, or nothing more is queued
  }
  shared_->unacked.set(cursor_.id() - acked_.id());
}

void PublishDestination::acknowledged(std::uint64_t id) {
  if (!in_flight(id) || report(id) != Report::none) return;  // passed by the floor, or reported twice
  report(id) = Report::acknowledged;
  ++reported_;
  backoff_step_ = 0;
}

void PublishDestination::failed(std::uint64_t id, std::string_view why) {
  if (!in_flight(id) || report(id) != Report::none) return;
  report(id) = Report::failed;
  ++reported_;
  shared_->counters.publish_failures.add();
  if (!failing_ && failure_log_.allow(steady_ns()))
    spdlog::warn("destination {}: message {} not stored ({}); resending from message {} in order{}",
                 shared_->endpoint.str(), id, printable(why), acked_.id(),
                 failure_log_.suppressed() ? fmt::format(" ({} more such lines held back)", failure_log_.suppressed())
                                           : std::string{});
  set_error(why);
  failing_ = true;
}

void PublishDestination::rejected(std::uint64_t id, std::string_view why) {
  if (!in_flight(id) || report(id) != Report::none) return;
  report(id) = Report::rejected;
  ++reported_;
  if (reject_log_.allow(steady_ns()))
    spdlog::warn("destination {}: message {} refused for good ({}): dropped, counted as dropped_rejected{}",
                 shared_->endpoint.str(), id, printable(why),
                 reject_log_.suppressed() ? fmt::format(" ({} more such lines held back)", reject_log_.suppressed())
                                          : std::string{});
}

void PublishDestination::connection(DestinationState state, std::string_view error) {
  if (!error.empty()) set_error(error);
  if (!draining_) shared_->state.set(state);
}

void PublishDestination::set_error(std::string_view why) {
  // release: readers (snapshots) acquire the whole string.
  shared_->last_error.store(std::make_shared<const std::string>(why), std::memory_order_release);
}

// Past the unbroken run of acknowledged (or rejected) messages at acked_.
void PublishDestination::advance_acked() {
  std::uint64_t passed = 0, dropped = 0;
  for (std::uint64_t id = acked_.id(); id < cursor_.id(); ++id, ++passed) {
    const Report r = report(id);
    if (r != Report::acknowledged && r != Report::rejected) break;
    dropped += r == Report::rejected ? 1 : 0;
    report(id) = Report::none;
  }
  if (passed == 0) return;
  reported_ -= passed;
  acked_.walk_to(acked_.id() + passed);
  shared_->counters.sent_messages.add(passed - dropped);
  shared_->counters.dropped_rejected.add(dropped);
  refresh_gauges();
}

// After a failure, once every message in flight is reported: back to the first one not
// acknowledged, and hand over again from there after a backoff.
void PublishDestination::rewind_if_settled() {
  if (!failing_ || reported_ < cursor_.id() - acked_.id()) return;
  const std::uint64_t again = cursor_.id() - acked_.id();
  forget_reports(acked_.id(), cursor_.id());
  shared_->counters.resent_unacked.add(again);
  cursor_.move_to(acked_);
  failing_ = false;
  const double delay =
      std::min(timing_.reconnect_max, timing_.reconnect_min * std::ldexp(1.0, std::min(backoff_step_, 30)));
  ++backoff_step_;
  ev_timer_set(&retry_, delay, 0);
  ev_timer_start(loop_, &retry_);
  refresh_gauges();
}

void PublishDestination::forget_reports(std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t id = from; id < to; ++id) {
    if (report(id) != Report::none) --reported_;
    report(id) = Report::none;
  }
}

// The queue budget needs what acked_ holds: skip to the floor, counting what is skipped as
// dropped_lagging (in flight or not: nobody knows yet that it arrives).
void PublishDestination::apply_floor() {
  if (!acked_.below_floor()) return;
  const std::uint64_t from = acked_.id();
  const std::uint64_t handed_end = cursor_.id();
  const std::uint64_t skipped = acked_.skip_to_floor();
  if (cursor_.id() < acked_.id()) cursor_.move_to(acked_);
  forget_reports(from, std::min(handed_end, acked_.id()));
  shared_->counters.dropped_lagging.add(skipped);
  rewind_if_settled();
  refresh_gauges();
}

void PublishDestination::refresh_gauges() {
  shared_->cursor.set(acked_.id());
  shared_->unacked.set(cursor_.id() - acked_.id());
  shared_->lag_since_ns.set(acked_.lag_since_ns());
}

}  // namespace relay
