// nats_outbox: the messages NatsPublisher took, on their way from the client thread to the NATS
// session thread (nats_session.hpp), which hands them to libnats — whose publish call can wait
// on a lock or a full socket, so the client thread never makes it.
//
// A bounded single-producer, single-consumer ring: the client thread claims and commits slots,
// the session thread reads and releases them. Slots keep their payload buffers, so a steady
// stream allocates nothing. It never overflows in practice: the publisher takes at most
// max_in_flight messages before acknowledgements free room, and the ring holds as many; a full
// ring only makes publish() say "not now".
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cache_line.hpp"

namespace relay {

struct NatsOutgoing {
  std::uint64_t id = 0;
  bool expect_previous = false;  // carries Nats-Expected-Last-Msg-Id: PREFIX-(id-1)
  std::vector<std::byte> payload;
};

class NatsOutbox {
 public:
  explicit NatsOutbox(std::size_t capacity) : slots_(std::bit_ceil(capacity)), mask_(slots_.size() - 1) {}
  NatsOutbox(const NatsOutbox&) = delete;
  NatsOutbox& operator=(const NatsOutbox&) = delete;

  // Producer: the next free slot, or null when the ring is full. Fill it, then commit().
  NatsOutgoing* claim() noexcept {
    // relaxed: only the producer writes tail_. acquire on head_: the consumer's release() of
    // that slot (its reads of the payload) happens-before we overwrite it.
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_.load(std::memory_order_acquire) == slots_.size()) return nullptr;
    return &slots_[tail & mask_];
  }
  void commit() noexcept {
    // release: the slot's contents are visible to the consumer that sees the new tail.
    tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  // Consumer: the oldest committed slot, or null. Use it, then release().
  NatsOutgoing* front() noexcept {
    // relaxed: only the consumer writes head_. acquire on tail_: pairs with commit().
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_.load(std::memory_order_acquire)) return nullptr;
    return &slots_[head & mask_];
  }
  void release() noexcept {
    // release: our reads of the slot happen-before the producer's next claim() of it.
    head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

 private:
  std::vector<NatsOutgoing> slots_;
  const std::size_t mask_;
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};  // consumer's
  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};  // producer's
};

}  // namespace relay
