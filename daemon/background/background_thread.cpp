#include "background_thread.hpp"

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "thread_name.hpp"

namespace relay {

BackgroundThread::BackgroundThread(Queue& queue, BackgroundConfig cfg, std::function<void()> report)
    : queue_(queue), cfg_(cfg), report_(std::move(report)), loop_(ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK)) {
  if (loop_ == nullptr) throw std::runtime_error("cannot create the background thread's event loop");
  ev_timer_init(&reclaim_timer_, &BackgroundThread::on_reclaim, cfg_.reclaim_interval, cfg_.reclaim_interval);
  reclaim_timer_.data = this;
  ev_timer_start(loop_, &reclaim_timer_);
  if (cfg_.stats_interval > 0) {
    ev_timer_init(&stats_timer_, &BackgroundThread::on_stats, cfg_.stats_interval, cfg_.stats_interval);
    stats_timer_.data = this;
    ev_timer_start(loop_, &stats_timer_);
  }
  ev_async_init(&pressure_, &BackgroundThread::on_pressure);
  pressure_.data = this;
  ev_async_start(loop_, &pressure_);
  ev_async_init(&stop_, &BackgroundThread::on_stop);
  stop_.data = this;
  ev_async_start(loop_, &stop_);
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

void BackgroundThread::on_stop(struct ev_loop* loop, ev_async*, int) { ev_break(loop, EVBREAK_ALL); }

}  // namespace relay
