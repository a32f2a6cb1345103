#include "background_thread.hpp"

#include <cmath>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "thread_name.hpp"

namespace relay {

BackgroundThread::BackgroundThread(Queue& queue, BackgroundConfig cfg, std::function<void()> report)
    : queue_(queue),
      cfg_(cfg),
      report_(std::move(report)),
      loop_(ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK)),
      wanted_stats_interval_(cfg.stats_interval) {
  if (loop_ == nullptr) throw std::runtime_error("cannot create the background thread's event loop");
  ev_timer_init(&reclaim_timer_, &BackgroundThread::on_reclaim, cfg_.reclaim_interval, cfg_.reclaim_interval);
  reclaim_timer_.data = this;
  ev_timer_start(loop_, &reclaim_timer_);
  ev_init(&stats_timer_, &BackgroundThread::on_stats);
  stats_timer_.data = this;
  apply_stats_interval(cfg_.stats_interval);
  ev_timer_init(&sync_timer_, &BackgroundThread::on_sync, cfg_.sync_interval, cfg_.sync_interval);
  sync_timer_.data = this;
  if (cfg_.on_sync && cfg_.sync_interval > 0) ev_timer_start(loop_, &sync_timer_);
  ev_async_init(&pressure_, &BackgroundThread::on_pressure);
  pressure_.data = this;
  ev_async_start(loop_, &pressure_);
  ev_async_init(&stop_, &BackgroundThread::on_stop);
  stop_.data = this;
  ev_async_start(loop_, &stop_);
  ev_async_init(&stats_changed_, &BackgroundThread::on_stats_changed);
  stats_changed_.data = this;
  ev_async_start(loop_, &stats_changed_);
}

BackgroundThread::~BackgroundThread() {
  stop();
  ev_loop_destroy(loop_);
}

void BackgroundThread::start() {
  thread_ = std::thread([this] {
    name_this_thread("relayd-bg");
    ev_run(loop_, 0);
  });
}

void BackgroundThread::stop() {
  if (!thread_.joinable()) return;
  ev_async_send(loop_, &stop_);
  thread_.join();
}

void BackgroundThread::pressure() noexcept { ev_async_send(loop_, &pressure_); }

void BackgroundThread::set_stats_interval(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    throw std::invalid_argument(fmt::format("statistics interval {} s: must be 0 (off) or a positive number", seconds));
  // release: pairs with on_stats_changed()'s acquire; the loop woken by the send below reads this
  // value or a later one. No other data rides on it.
  wanted_stats_interval_.store(seconds, std::memory_order_release);
  ev_async_send(loop_, &stats_changed_);
}

double BackgroundThread::stats_interval() const noexcept {
  // acquire: pairs with set_stats_interval(); only the value itself is read.
  return wanted_stats_interval_.load(std::memory_order_acquire);
}

void BackgroundThread::apply_stats_interval(double seconds) {
  ev_timer_stop(loop_, &stats_timer_);
  stats_interval_now_ = seconds;
  if (seconds <= 0) return;
  ev_timer_set(&stats_timer_, seconds, seconds);
  ev_timer_start(loop_, &stats_timer_);
}

void BackgroundThread::on_sync(struct ev_loop*, ev_timer* w, int) {
  static_cast<BackgroundThread*>(w->data)->cfg_.on_sync();
}

void BackgroundThread::reclaim() {
  const ReclaimResult r = queue_.reclaim();
  if (!r.floor_raised || !floor_log_.allow(static_cast<std::int64_t>(ev_now(loop_) * 1e9))) return;
  spdlog::warn(
      "queue near its budget ({} bytes): destinations behind message {} skip ahead, counted as dropped_lagging{}",
      queue_.stats().max_queue_bytes, r.floor,
      floor_log_.suppressed() ? fmt::format(" ({} more times since the last line)", floor_log_.suppressed()) : "");
}

void BackgroundThread::on_reclaim(struct ev_loop*, ev_timer* w, int) {
  auto* self = static_cast<BackgroundThread*>(w->data);
  self->reclaim();
  if (self->cfg_.on_tick) self->cfg_.on_tick();
}

void BackgroundThread::on_pressure(struct ev_loop*, ev_async* w, int) {
  static_cast<BackgroundThread*>(w->data)->reclaim();
}

void BackgroundThread::on_stats(struct ev_loop*, ev_timer* w, int) {
  auto* self = static_cast<BackgroundThread*>(w->data);
  if (self->report_) self->report_();
}

// Calls that raced are coalesced by libev into one wake-up: the last value stored is applied.
void BackgroundThread::on_stats_changed(struct ev_loop*, ev_async* w, int) {
  auto* self = static_cast<BackgroundThread*>(w->data);
  // acquire: pairs with set_stats_interval()'s release.
  const double seconds = self->wanted_stats_interval_.load(std::memory_order_acquire);
  if (seconds == self->stats_interval_now_) return;  // unchanged: the timer keeps its phase
  self->apply_stats_interval(seconds);
}

void BackgroundThread::on_stop(struct ev_loop* loop, ev_async*, int) { ev_break(loop, EVBREAK_ALL); }

}  // namespace relay
