// server_thread: the ingest side. One libev loop, on its own thread, owns every listener and is
// the queue's only producer.
//
// Each loop iteration drains ready sockets in batches (recvmmsg for UDP), appends every message
// to the queue, publishes once per batch, then calls `on_published` (an ev_async_send that wakes
// the client thread; libev coalesces repeated sends into one wake-up).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
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
struct ev_async;

namespace relay {

class Listener;  // udp_listener / tcp_listener implement it

// What a reload changes about the listeners. Addresses are as configured (a port 0 one as
// "…:0"), which is how the configuration names a listener whatever port it got.
struct ListenerChange {
  std::vector<std::string> remove;     // retired (listener.hpp): read dry, then closed
  std::vector<Endpoint> add;           // bound and started
  double grace = 5;                    // s a removed TCP listener's connections may still send
  std::optional<IngestConfig> limits;  // new connection limits for every TCP listener
};

struct ListenerChangeResult {
  std::vector<std::string> removed;  // as bound ("tcp@127.0.0.1:40123")
  std::vector<std::string> added;    // as bound
  std::vector<std::string> failed;   // "add ADDRESS: why", "remove ADDRESS: why"
};

class ServerThread {
 public:
  // Binds every listener now (throws std::system_error / EndpointError naming the address, so a
  // bad address fails at start-up with a clear message); receiving starts with start().
  ServerThread(Queue& queue, const std::vector<Endpoint>& listen, IngestConfig cfg, std::function<void()> on_published);
  ~ServerThread();

  void start();
  // Stops receiving (closes the listeners), publishes what was appended, joins the thread.
  void stop();

  // Applies `change` on the server thread, in an order that keeps every address served: new
  // addresses are bound before anything is removed; an address both removed and added (other
  // options, same socket) is retired, then bound again. Any thread; waits up to `wait` for the
  // server thread (a change not answered by then may still happen, and says so).
  ListenerChangeResult change_listeners(ListenerChange change, std::chrono::milliseconds wait);
  // The configured addresses of the listeners taking input now (retiring ones are not).
  std::vector<Endpoint> configured() const;

  // The listeners taking input, each with its counters as read now; once a reload has removed
  // one, a last entry named kRemovedListeners sums the counters of every removed listener (those
  // still reading their open connections included), so totals never go back and no address is
  // listed twice when a replaced listener's old connections outlive the reload.
  static constexpr std::string_view kRemovedListeners = "removed";
  std::vector<ListenerInfo> listeners() const;
  ListenerValues totals() const;  // summed over listeners, removed ones included
  // How long the loop currently waits between polls (ingest_pacer); 0 under light traffic.
  double ingest_wait_seconds() const noexcept;

 private:
  struct Command;
  struct Entry {
    Endpoint configured;
    std::unique_ptr<Listener> listener;
  };

  void run();
  static void on_prepare(struct ev_loop* loop, struct ev_prepare* w, int revents);
  static void on_command(struct ev_loop* loop, ::ev_async* w, int revents);
  ListenerChangeResult apply(const ListenerChange& change);
  void bind(const Endpoint& ep, ListenerChangeResult& out);
  void retire(const std::string& configured, double grace, ListenerChangeResult& out);
  void reap();
  ListenerValues own_totals() const;  // server thread (or before start): no lock

  Queue& queue_;
  IngestConfig cfg_;
  std::function<void()> on_published_;
  struct ev_loop* loop_ = nullptr;
  // The server thread changes the members below only under view_mu_ and reads them without it
  // (it is their only writer); other threads read them under view_mu_. Taken on a reload or a
  // stats read, never per message.
  mutable std::mutex view_mu_;
  std::vector<Entry> listeners_;                     // taking input
  std::vector<std::unique_ptr<Listener>> retiring_;  // removed, connections still open
  ListenerValues removed_totals_;                    // counters of listeners gone
  bool any_removed_ = false;
  struct Impl;
  std::unique_ptr<Impl> impl_;  // stop watcher etc.
  std::thread thread_;
  // Written by the server thread when a pacing window ends (the wait, and ev_now() then), read
  // by stats readers.
  alignas(kCacheLine) std::atomic<double> ingest_wait_{0};
  std::atomic<double> ingest_wait_at_{0};
};

}  // namespace relay
