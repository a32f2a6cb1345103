// client_thread: the egress side. One libev loop, on its own thread, owns every destination and
// its cursor; it writes queued messages to every destination.
//
// Wake-ups: the server thread calls wake() after each published batch (an ev_async_send, which
// libev coalesces); the background thread calls it when the eviction floor moves; control calls
// push a command into the lock-free mailbox and call it too. With nothing queued, no write
// watcher is active: the loop sleeps.
//
// The destination registry (the list readers use for snapshots) is guarded by a mutex that the
// client thread takes only when a destination is added or removed — the control path, never the
// data path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "destination.hpp"
#include "mailbox.hpp"
#include "relay_api.hpp"

namespace relay {

struct ClientConfig {
  DestinationConfig destination;
  std::size_t max_destinations = 64;  // --max-destinations
};

class ClientThread {
 public:
  ClientThread(Queue& queue, ClientConfig cfg);
  ~ClientThread();
  ClientThread(const ClientThread&) = delete;
  ClientThread& operator=(const ClientThread&) = delete;

  void start();
  void wake() noexcept;  // any thread

  // Any thread; return once the client thread has applied the change. Throw ApiError.
  DestinationSnapshot add(Endpoint endpoint, StartAt start, Deadline deadline);
  DestinationSnapshot remove(const RemoveDestinationRequest& req, Deadline deadline);

  // Any thread: callers blocked in add()/remove() return UNAVAILABLE now (relayd is stopping);
  // what they asked for still completes, bounded by the shutdown drain.
  void release_callers() noexcept;

  // Any thread: the destinations as they are now.
  std::vector<DestinationSnapshot> snapshot() const;

  // Gives every destination up to `timeout` to write what is queued, then stops the loop and
  // joins. Call after the server thread has stopped, so the tail no longer moves.
  void drain_and_stop(std::chrono::milliseconds timeout);

 private:
  struct Command;
  struct Draining;
  static void on_wake(struct ev_loop* loop, ev_async* w, int revents);
  static void on_tick(struct ev_loop* loop, ev_timer* w, int revents);

  DestinationSnapshot submit(std::shared_ptr<Command> cmd, Deadline deadline);
  void run_commands();
  void apply(const std::shared_ptr<Command>& cmd);
  void apply_add(Command& cmd);
  void apply_remove(const std::shared_ptr<Command>& cmd);
  void apply_shutdown(Command& cmd);
  Destination* find(std::uint64_t id) const;
  enum class Finish { drained, timed_out, immediate };
  void check_drains();
  void finish_removal(const Draining& d, Destination* dest, Finish how);
  void publish_registry();

  Queue& queue_;
  ClientConfig cfg_;
  struct ev_loop* loop_;
  ev_async wake_{};
  ev_timer tick_{};
  Mailbox<Command> mailbox_;
  std::vector<std::unique_ptr<Destination>> destinations_;  // client thread only
  std::vector<Draining> draining_;                          // client thread only
  bool shutting_down_ = false;
  // Destinations removed by the shutdown drain stay visible so the final stats report them.
  std::vector<std::shared_ptr<DestinationShared>> keep_for_report_;
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<bool> closing_{false};

  mutable std::mutex registry_mutex_;  // control path only, see header comment
  std::vector<std::shared_ptr<DestinationShared>> registry_;
  std::thread thread_;
};

}  // namespace relay
