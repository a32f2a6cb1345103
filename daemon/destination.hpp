// destination: one TCP peer that receives every message, with its own cursor and connection.
//
// Thread: everything here runs on the client thread, except DestinationShared, which other
// threads read (counters, gauges, state) without locks.
//
// Connection life: connecting → connected → (failure) → backing_off → connecting ...; removal
// with drain passes through draining. A message cut by a broken connection is resent whole on
// the next one, so every connection carries whole frames; a message fully written to a
// connection is never sent again (bytes the kernel accepted but the peer never read are lost
// with the connection — TCP gives no way to know them).
#pragma once

#include <ev.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cursor.hpp"
#include "endpoint.hpp"
#include "framing.hpp"
#include "snapshot.hpp"
#include "stats.hpp"

namespace relay {

struct DestinationConfig {
  double reconnect_min = 0.1;     // --reconnect-min: first backoff delay (s)
  double reconnect_max = 10.0;    // --reconnect-max: backoff ceiling (s)
  double connect_timeout = 5.0;   // --connect-timeout (s)
  int keepalive_idle = 30;        // s of idle before keepalive probes
  int keepalive_interval = 10;    // s between probes
  int keepalive_count = 3;        // unanswered probes before the connection is dropped
};

// The part of a destination other threads may read. Written by the client thread only.
struct DestinationShared {
  DestinationShared(std::uint64_t id_, Endpoint ep) : id(id_), endpoint(std::move(ep)) {}
  const std::uint64_t id;
  const Endpoint endpoint;
  DestinationCounters counters;
  Gauge<std::uint64_t> cursor;            // next message id to write
  Gauge<std::int64_t> pending_since_ns;   // receive time of the oldest unwritten message, 0 if none
  Gauge<DestinationState> state;
  std::atomic<std::shared_ptr<const std::string>> last_error;  // replaced whole; readers copy it
};

DestinationSnapshot snapshot_of(const DestinationShared& d, std::uint64_t tail, std::int64_t now_ns);

class Destination {
 public:
  Destination(struct ev_loop* loop, Queue& queue, std::shared_ptr<DestinationShared> shared, StartAt start,
              const DestinationConfig& cfg);
  ~Destination();
  Destination(const Destination&) = delete;
  Destination& operator=(const Destination&) = delete;

  void start();                 // first connection attempt
  void on_data();               // new messages were published, or the floor moved
  void begin_drain();           // stop reconnecting once the queue for it is empty
  bool reached(std::uint64_t target) const;  // every message before `target` fully written
  bool mid_message() const noexcept { return partial_ > 0 || !carry_.empty(); }
  // The drain target that completes the half-written message (see mid_message()).
  std::uint64_t message_in_progress_end() const noexcept { return cursor_.id() + (partial_ > 0 ? 1 : 0); }
  std::uint64_t pending() const;  // messages queued for it
  void refresh_gauges();
  const std::shared_ptr<DestinationShared>& shared() const noexcept { return shared_; }

 private:
  static void on_io(struct ev_loop* loop, ev_io* w, int revents);
  static void on_read(struct ev_loop* loop, ev_io* w, int revents);
  static void on_timer(struct ev_loop* loop, ev_timer* w, int revents);

  void connect_now();
  void connected();
  void fail(const std::string& why, bool was_connected);
  void schedule_reconnect();
  void flush();
  bool write_carry();
  bool write_batch();
  void apply_floor();
  void keep_partial_message();
  void set_state(DestinationState s);
  void arm_write(bool on);

  struct ev_loop* loop_;
  Queue& queue_;
  std::shared_ptr<DestinationShared> shared_;
  DestinationConfig cfg_;
  Cursor cursor_;
  FrameBatch frames_;
  std::vector<MessageView> views_;
  int fd_ = -1;
  ev_io io_{};      // writable: connect completion and socket space
  ev_io read_{};    // readable: peer close or reset
  ev_timer timer_{};  // connect timeout, then backoff delay
  bool connected_ = false;
  bool draining_ = false;
  std::size_t partial_ = 0;  // bytes of the message at the cursor already written on this connection
  // A message the floor moved the cursor past while it was half-written: finished from here so
  // the connection's framing stays intact. Whole framed bytes, plus how much was written.
  std::string carry_;
  std::size_t carry_sent_ = 0;
  unsigned attempts_ = 0;
  bool ever_connected_ = false;
  std::minstd_rand rng_;
};

}  // namespace relay
