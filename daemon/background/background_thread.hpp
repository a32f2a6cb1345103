// background_thread: periodic work off the data path, on its own libev loop and thread.
//
//  - reclaim: every `reclaim_interval` (and at once when the producer signals pressure)
//    it runs Queue::reclaim — the seed's min-cursor algorithm, per segment — which recycles
//    what every cursor has passed and raises the eviction floor near the budget;
//  - statistics: every `stats_interval` seconds (0 = off) it calls the report callback, which
//    logs a snapshot. set_stats_interval() changes the period while the thread runs;
//  - with a data directory, every `sync_interval` seconds it calls on_sync, which writes back
//    the segment files and records every destination's position (relay/checkpoint.hpp).
#pragma once

#include <ev.h>

#include <atomic>
#include <functional>
#include <thread>

#include "background_config.hpp"
#include "log_limiter.hpp"
#include "queue.hpp"

namespace relay {

class BackgroundThread {
 public:
  // `report` is called every stats interval on the background thread (logs a snapshot).
  BackgroundThread(Queue& queue, BackgroundConfig cfg, std::function<void()> report);
  ~BackgroundThread();
  BackgroundThread(const BackgroundThread&) = delete;
  BackgroundThread& operator=(const BackgroundThread&) = delete;

  void start();
  void stop();               // any thread; joins
  void pressure() noexcept;  // any thread: run a reclaim pass now

  // Any thread, before start(), while the thread runs, or after stop() (then it only records the
  // value). Sets the statistics period in seconds: 0 turns the report off, > 0 restarts the
  // stats timer so the next report comes `seconds` after the background thread applies the
  // change (at its next loop iteration; soon, not synchronously) and then every `seconds`. A
  // value equal to the period in effect changes nothing (the timer keeps its phase). When calls
  // race, the last value stored wins. Throws std::invalid_argument for a negative or non-finite
  // value, changing nothing.
  void set_stats_interval(double seconds);
  // Any thread: the period last asked for (the constructor's, or the last set_stats_interval()),
  // which the background thread has applied or is about to.
  double stats_interval() const noexcept;

 private:
  static void on_reclaim(struct ev_loop* loop, ev_timer* w, int revents);
  static void on_pressure(struct ev_loop* loop, ev_async* w, int revents);
  static void on_stats(struct ev_loop* loop, ev_timer* w, int revents);
  static void on_stop(struct ev_loop* loop, ev_async* w, int revents);
  static void on_stats_changed(struct ev_loop* loop, ev_async* w, int revents);
  static void on_sync(struct ev_loop* loop, ev_timer* w, int revents);
  void reclaim();
  void apply_stats_interval(double seconds);  // background thread (or the constructor)

  Queue& queue_;
  BackgroundConfig cfg_;
  std::function<void()> report_;
  struct ev_loop* loop_;
  ev_timer reclaim_timer_{};
  ev_timer stats_timer_{};
  ev_timer sync_timer_{};
  ev_async pressure_{};
  ev_async stop_{};
  ev_async stats_changed_{};
  std::atomic<double> wanted_stats_interval_;  // written by any thread, applied on the loop
  double stats_interval_now_ = 0;              // the period in effect; loop thread only
  LogLimiter floor_log_{10'000'000'000};       // one eviction warning per 10 s at most
  std::thread thread_;
};

}  // namespace relay
