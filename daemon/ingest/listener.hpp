// listener: one ingest socket owned by the server thread (UDP datagrams or TCP lp32le frames).
//
// A listener binds in its constructor (so a bad address fails at start-up), registers its
// watchers on the server thread's loop in start(), and from then on is touched only by that
// thread until stop(). The shared part lives here: turning a received message into a queue
// append and counting every reason a message was not appended.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <system_error>

#include "clock.hpp"
#include "counters.hpp"
#include "endpoint.hpp"
#include "ingest_config.hpp"
#include "listener_info.hpp"
#include "log_limiter.hpp"
#include "queue.hpp"

struct ev_loop;

namespace relay {

class Listener {
 public:
  virtual ~Listener() = default;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Registers the watchers on `loop`; called before the loop's thread starts running it.
  virtual void start(struct ev_loop* loop) = 0;
  // Stops the watchers and closes every socket; called once the loop no longer runs.
  // Idempotent, so the destructor can call it again.
  virtual void stop() = 0;
  // A reload removed this listener (server thread, loop running): it takes nothing new from
  // now on, but what the kernel already accepted is read first. A UDP listener reads its
  // socket dry and closes; a TCP one closes its listening socket and keeps reading each open
  // connection until the peer closes it, it stays quiet for kRetireQuietSeconds, or `grace`
  // seconds pass. finished() says when nothing of it is open any more.
  virtual void retire(double grace) = 0;
  virtual bool finished() const = 0;
  // New connection limits from a reload (ingest.max_connections, ingest.idle_timeout); server
  // thread. Only TCP listeners have connections.
  virtual void set_limits(const IngestConfig&) {}

  static constexpr double kRetireQuietSeconds = 1.0;

  ListenerInfo info() const { return {name_, rcvbuf_granted_bytes_, read(counters_)}; }
  const std::string& name() const noexcept { return name_; }
  const ListenerCounters& counters() const noexcept { return counters_; }

 protected:
  Listener(const Endpoint& requested, Queue& queue, const IngestConfig& cfg, const std::function<void()>& on_published)
      : bound_(requested),
        name_(requested.str()),
        // Never above the queue's own limit: append() requires payload <= its max_message.
        max_message_(std::min(cfg.max_message, queue.config().max_message)),
        queue_(queue),
        on_published_(on_published) {}

  static std::int64_t now_ns() noexcept { return steady_ns(); }

  // A start-up failure, naming the address: "cannot listen on udp@127.0.0.1:2008: <errno text>".
  [[noreturn]] void fail(int err, std::string_view step = {}) const {
    std::string what = "cannot listen on " + name_;
    if (!step.empty()) what += ": " + std::string(step);
    throw std::system_error(err, std::system_category(), what);
  }

  // After bind: learns the real port (port 0 asks the kernel to pick one).
  void record_bound_address(int fd) {
    socklen_t len = sizeof bound_.addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound_.addr), &len) != 0) fail(errno, "getsockname");
    bound_.addr_len = len;
    bound_.port = port_of(bound_.addr);
    name_ = bound_.str();
  }

  static std::uint16_t port_of(const sockaddr_storage& a) noexcept {
    return ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(a).sin6_port
                                         : reinterpret_cast<const sockaddr_in&>(a).sin_port);
  }

  // Counts and logs (rate-limited) a message longer than max_message; true when it is one.
  bool oversized(std::size_t size, std::int64_t now) {
    if (size <= max_message_) return false;
    counters_.dropped_oversized.add();
    if (oversize_log_.allow(now))
      spdlog::warn("listener {}: dropped a {}-byte message, longer than --max-message-size {}{}", name_, size,
                   max_message_, held_back(oversize_log_));
    return true;
  }

  // Appends one message (size <= max_message), or counts why it was not appended.
  void deliver(std::span<const std::byte> payload, std::int64_t now) {
    if (payload.empty()) {
      // A zero-length datagram is legal and carries nothing; the seed closed its socket on it.
      counters_.dropped_empty.add();
      return;
    }
    if (queue_.append(payload, now) == AppendStatus::full) {
      counters_.dropped_queue_full.add();
      if (full_log_.allow(now))
        spdlog::warn("listener {}: queue full (--max-queue-bytes), dropping messages{}", name_, held_back(full_log_));
      return;
    }
    counters_.received_messages.add();
    counters_.received_bytes.add(payload.size());
    pending_ = true;
  }

  // Ends a batch: one publish (one release store) for everything appended since the last one,
  // then wakes the consumer. Nothing appended, nothing to wake.
  void end_batch() {
    if (!pending_) return;
    pending_ = false;
    queue_.publish();
    on_published_();
  }

  // A failed receive call: counted, logged at most once per second.
  void receive_error(int err, std::string_view call, std::int64_t now) {
    counters_.receive_errors.add();
    if (error_log_.allow(now))
      spdlog::error("listener {}: {} failed: {}{}", name_, call, std::system_category().message(err),
                    held_back(error_log_));
  }

  // An exception escaping a libev callback would unwind through C code; callbacks end here.
  void callback_failed(const std::exception& e) {
    end_batch();
    counters_.receive_errors.add();
    if (error_log_.allow(now_ns()))
      spdlog::error("listener {}: receive failed: {}{}", name_, e.what(), held_back(error_log_));
  }

  // " (N more not logged)" after a rate-limited line, when some were held back.
  static std::string held_back(const LogLimiter& limiter) {
    return limiter.suppressed() == 0 ? std::string() : fmt::format(" ({} more not logged)", limiter.suppressed());
  }

  Endpoint bound_;                // the requested endpoint, with the real port after bind
  std::string name_;              // bound_.str(), for log lines and ListenerInfo
  int rcvbuf_granted_bytes_ = 0;  // as read back from the socket (UDP)
  std::uint32_t max_message_;
  ListenerCounters counters_;  // written by the server thread only

 private:
  Queue& queue_;
  const std::function<void()>& on_published_;  // owned by the ServerThread, which outlives us
  bool pending_ = false;                       // appended since the last publish
  LogLimiter oversize_log_;
  LogLimiter full_log_;
  LogLimiter error_log_;
};

}  // namespace relay
