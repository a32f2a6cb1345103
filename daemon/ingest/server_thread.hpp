// server_thread: the ingest side. One libev loop, on its own thread, owns every listener and is
// the queue's only producer.
//
// Each loop iteration drains ready sockets in batches (recvmmsg for UDP), appends every message
// to the queue, publishes once per batch, then calls `on_published` (an ev_async_send that wakes
// the client thread; libev coalesces repeated sends into one wake-up).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache_line.hpp"
#include "counters.hpp"
#include "endpoint.hpp"
#include "ingest_config.hpp"
#include "listener_info.hpp"
#include "queue.hpp"

struct ev_loop;
struct ev_prepare;

namespace relay {

class Listener;  // udp_listener / tcp_listener implement it

class ServerThread {
 public:
  // Binds every listener now (throws std::system_error / EndpointError naming the address, so a
  // bad address fails at start-up with a clear message); receiving starts with start().
  ServerThread(Queue& queue, const std::vector<Endpoint>& listen, IngestConfig cfg, std::function<void()> on_published);
  ~ServerThread();

  void start();
  // Stops receiving (closes the listeners), publishes what was appended, joins the thread.
  void stop();

  std::vector<ListenerInfo> listeners() const;
  ListenerValues totals() const;  // summed over listeners
  // How long the loop currently waits between polls (ingest_pacer); 0 under light traffic.
  double ingest_wait_seconds() const noexcept;

 private:
  void run();
  static void on_prepare(struct ev_loop* loop, struct ev_prepare* w, int revents);

  Queue& queue_;
  IngestConfig cfg_;
  std::function<void()> on_published_;
  struct ev_loop* loop_ = nullptr;
  std::vector<std::unique_ptr<Listener>> listeners_;
  struct Impl;
  std::unique_ptr<Impl> impl_;  // stop watcher etc.
  std::thread thread_;
  // Written by the server thread when a pacing window ends (the wait, and ev_now() then), read
  // by stats readers.
  alignas(kCacheLine) std::atomic<double> ingest_wait_{0};
  std::atomic<double> ingest_wait_at_{0};
};

}  // namespace relay
