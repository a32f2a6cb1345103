// stats: every counter relayd keeps, defined once.
//
// Each table below is the single definition of a group of counters: name, unit and meaning.
// The structs, the periodic log line, the gRPC messages' documentation and relayctl's output
// are all derived from these tables, so a counter is added in exactly one place.
//
// Ownership: every counter has exactly one writing thread (the thread that owns the listener or
// the destination). Readers (background thread, control service) only load. Single-writer lets
// `add` use a relaxed load+store instead of a locked read-modify-write on the hot path.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace relay {

inline constexpr std::size_t kCacheLine = 64;

// X(name, unit, description)
#define RELAY_LISTENER_COUNTERS(X)                                                              \
  X(received_messages, "messages", "messages accepted into the queue")                           \
  X(received_bytes, "bytes", "payload bytes accepted into the queue")                            \
  X(dropped_empty, "messages", "zero-length datagrams ignored")                                  \
  X(dropped_oversized, "messages", "datagrams or frames longer than --max-message-size, dropped") \
  X(dropped_queue_full, "messages", "messages dropped because the queue budget was exhausted")   \
  X(kernel_drops, "messages", "datagrams the kernel dropped on the socket (SO_RXQ_OVFL)")        \
  X(receive_errors, "events", "receive system calls that failed")                                \
  X(connections_accepted, "connections", "TCP ingest connections accepted")                      \
  X(connections_closed_bad_frame, "connections", "TCP ingest connections closed on a bad frame")

#define RELAY_DESTINATION_COUNTERS(X)                                                           \
  X(sent_messages, "messages", "messages fully written to the destination's socket")             \
  X(sent_bytes, "bytes", "bytes written to the destination's socket, framing included")          \
  X(dropped_lagging, "messages", "messages skipped because the destination fell behind the queue budget") \
  X(dropped_removed, "messages", "messages still queued for the destination when it was removed") \
  X(connects, "connections", "connections established")                                          \
  X(reconnects, "connections", "connections re-established after a failure")                    \
  X(connect_failures, "events", "connection attempts that failed or timed out")                  \
  X(disconnects, "events", "established connections lost (write error, reset or peer close)")   \
  X(resent_partial, "messages", "messages cut by a broken connection and resent whole")

// A counter written by one thread only.
class Counter {
 public:
  // relaxed is enough: the value carries no ordering for other data, readers only need
  // an eventually current, untorn value; single writer so load+store cannot lose updates.
  void add(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // relaxed: a statistic, no other memory depends on it.
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value written by one thread (a gauge). Same reasoning as Counter for relaxed order.
template <typename T>
class Gauge {
 public:
  void set(T v) noexcept { value_.store(v, std::memory_order_relaxed); }
  T get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<T> value_{};
};

#define RELAY_DECLARE_COUNTER(name, unit, desc) Counter name;

// Counters of one listener; written by the server thread only. Cache-line aligned so two
// listeners' counters never share a line with another thread's data.
struct alignas(kCacheLine) ListenerCounters {
  RELAY_LISTENER_COUNTERS(RELAY_DECLARE_COUNTER)
};

// Counters of one destination; written by the client thread only.
struct alignas(kCacheLine) DestinationCounters {
  RELAY_DESTINATION_COUNTERS(RELAY_DECLARE_COUNTER)
};

// Plain copies, for snapshots handed to readers.
#define RELAY_DECLARE_VALUE(name, unit, desc) std::uint64_t name = 0;
struct ListenerValues {
  RELAY_LISTENER_COUNTERS(RELAY_DECLARE_VALUE)
};
struct DestinationValues {
  RELAY_DESTINATION_COUNTERS(RELAY_DECLARE_VALUE)
};

#define RELAY_COPY_VALUE(name, unit, desc) out.name = in.name.get();
inline ListenerValues read(const ListenerCounters& in) {
  ListenerValues out;
  RELAY_LISTENER_COUNTERS(RELAY_COPY_VALUE)
  return out;
}
inline DestinationValues read(const DestinationCounters& in) {
  DestinationValues out;
  RELAY_DESTINATION_COUNTERS(RELAY_COPY_VALUE)
  return out;
}
#define RELAY_SUM_VALUE(name, unit, desc) self.name += o.name;
inline ListenerValues& operator+=(ListenerValues& self, const ListenerValues& o) {
  RELAY_LISTENER_COUNTERS(RELAY_SUM_VALUE)
  return self;
}

}  // namespace relay
