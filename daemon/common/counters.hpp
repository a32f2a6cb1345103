// counters: the atomics behind every counter of the counter table (proto/counter_table.hpp),
// and plain copies of them for readers.
//
// Ownership: every counter has exactly one writing thread (the thread that owns the listener or
// the destination). Readers (background thread, control service) only load. Single-writer lets
// `add` use a relaxed load+store instead of a locked read-modify-write on the hot path.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "cache_line.hpp"
#include "counter_table.hpp"

namespace relay {

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

// A counter is one lock-free word, so a table of them packs and a reader never takes a lock.
static_assert(sizeof(Counter) == sizeof(std::uint64_t) && std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(alignof(ListenerCounters) == kCacheLine && sizeof(ListenerCounters) % kCacheLine == 0);
static_assert(alignof(DestinationCounters) == kCacheLine && sizeof(DestinationCounters) % kCacheLine == 0);

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
