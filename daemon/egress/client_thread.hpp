// client_thread: the egress side. One libev loop, on its own thread, owns every destination and
// its cursor and writes queued messages to every destination.
//
// Wake-ups: the server thread calls wake() after each published batch (an ev_async_send, which
// libev coalesces); the background thread calls it when the eviction floor moves; control
// commands arrive through the CommandChannel, which calls it too. With nothing queued, no write
// watcher is active: the loop sleeps.
//
// Threads: start(), wake(), add(), remove(), set_destination_timing(), release_callers(),
// snapshot() and drain_and_stop() on any thread; everything else runs on the client thread.
#pragma once

#include <ev.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "clock.hpp"
#include "command_channel.hpp"
#include "destination.hpp"
#include "destination_registry.hpp"
#include "drains.hpp"
#include "egress_config.hpp"

namespace relay {

class ClientThread {
 public:
  ClientThread(Queue& queue, ClientConfig cfg);
  ~ClientThread();
  ClientThread(const ClientThread&) = delete;
  ClientThread& operator=(const ClientThread&) = delete;

  void start();
  void wake() noexcept;  // any thread

  // Any thread; return once the client thread has applied the change. Throw CommandError.
  DestinationSnapshot add(Endpoint endpoint, StartAt start, Deadline deadline,
                          std::optional<std::uint64_t> resume = std::nullopt);
  DestinationSnapshot remove(const Removal& removal, Deadline deadline);
  // Adds `endpoint` at the cursor of destination `old_id` and removes that one, in one step on
  // the client thread: no message between them is lost (what the old one had in flight
  // unacknowledged is sent again by the new one). Throws CommandError(unknown_id) when there is
  // no such destination or it is being removed, and as add() does.
  DestinationSnapshot replace(Endpoint endpoint, std::uint64_t old_id, Deadline deadline);

  // Any thread, before start() or while the thread runs; returns at once (a command through the
  // same mailbox as add()/remove(), applied at the client thread's next wake-up, in order with
  // them: an add() called after this returns uses `timing`). From then on every destination,
  // and every one added later, uses all of `timing`'s fields:
  //  - reconnect_min/reconnect_max: every backoff delay scheduled after the change (the backoff
  //    continues from its current step, the failures since the last connection came up);
  //  - connect_timeout: every connect attempt (TCP connect and TLS handshake) started after it;
  //  - keepalive_*: every socket made after it, and set at once on the socket of a live
  //    connection or of an attempt in progress.
  // A wait already running only gets shorter, never longer: a destination backing off whose
  // remaining delay exceeds the new reconnect_max waits a jittered 0.5-1 x reconnect_max from
  // the change instead; an attempt in progress whose remaining time exceeds the new
  // connect_timeout gives up connect_timeout after the change. A shorter remaining wait keeps
  // its timer. Nothing on the write path changes. After drain_and_stop() it changes nothing.
  // Throws std::invalid_argument (nothing changes) unless reconnect_min, reconnect_max and
  // connect_timeout are finite and > 0, reconnect_min <= reconnect_max, and the keepalive
  // values are >= 1.
  void set_destination_timing(DestinationConfig timing);

  // Any thread: callers blocked in add()/remove() give up now (relayd is stopping). What the
  // client thread had already claimed completes, bounded by the shutdown drain; the rest is dropped.
  void release_callers() noexcept { commands_.release_callers(); }

  // Any thread: the destinations as they are now.
  std::vector<DestinationSnapshot> snapshot() const;

  // Gives every destination up to `timeout` to write what is queued, then stops the loop and
  // joins. Call after the server thread has stopped, so the tail no longer moves.
  void drain_and_stop(std::chrono::milliseconds timeout);

 private:
  static void on_wake(struct ev_loop* loop, ev_async* w, int revents);
  static void on_tick(struct ev_loop* loop, ev_timer* w, int revents);

  void apply(const std::shared_ptr<Command>& cmd);
  std::shared_ptr<Command> add_command(Endpoint endpoint);
  void apply_add(Command& cmd);
  Destination* replaced_by(Command& cmd);
  void retire_replaced(Destination* old, const DestinationShared& by);
  void apply_remove(const std::shared_ptr<Command>& cmd);
  void apply_shutdown(Command& cmd);
  void apply_timing(Command& cmd);
  Destination* find(std::uint64_t id) const;
  void check_drains();
  void finish_removal(const Drains::Entry& e, Destination* dest, Drains::Finish how);
  void publish_registry();

  Queue& queue_;
  ClientConfig cfg_;  // cfg_.destination: client thread only once start() is called
  struct ev_loop* loop_;
  ev_async wake_{};
  ev_timer tick_{};
  CommandChannel commands_;
  std::vector<std::unique_ptr<Destination>> destinations_;  // client thread only
  Drains drains_;                                           // client thread only
  bool shutting_down_ = false;                              // client thread only
  // Destinations removed by the shutdown drain stay visible so the final stats report them.
  std::vector<std::shared_ptr<DestinationShared>> keep_for_report_;
  std::atomic<std::uint64_t> next_id_{1};
  DestinationRegistry registry_;
  std::thread thread_;
};

}  // namespace relay
