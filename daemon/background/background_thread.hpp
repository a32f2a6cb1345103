// background_thread: periodic work off the data path, on its own libev loop and thread.
//
//  - reclaim: every `reclaim_interval` (and at once when the producer signals pressure)
//    it runs Queue::reclaim — the seed's min-cursor algorithm, per segment — which recycles
//    what every cursor has passed and raises the eviction floor near the budget;
//  - statistics: every `stats_interval` seconds (0 = off) it calls the report callback, which
//    logs a snapshot.
#pragma once

#include <ev.h>

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

 private:
  static void on_reclaim(struct ev_loop* loop, ev_timer* w, int revents);
  static void on_pressure(struct ev_loop* loop, ev_async* w, int revents);
  static void on_stats(struct ev_loop* loop, ev_timer* w, int revents);
  static void on_stop(struct ev_loop* loop, ev_async* w, int revents);
  void reclaim();

  Queue& queue_;
  BackgroundConfig cfg_;
  std::function<void()> report_;
  struct ev_loop* loop_;
  ev_timer reclaim_timer_{};
  ev_timer stats_timer_{};
  ev_async pressure_{};
  ev_async stop_{};
  LogLimiter floor_log_{10'000'000'000};  // one eviction warning per 10 s at most
  std::thread thread_;
};

}  // namespace relay
