// nats_bridge: what a NatsPublisher (client thread), its session thread and libnats's callback
// threads share — owned through a shared_ptr by the first two, so it outlives the publisher
// until the session thread has stopped every callback that could still reach it.
//
//  - outbox: messages on their way to libnats (nats_outbox.hpp);
//  - work: bumped after each commit and on stop, the session thread sleeps on it (futex);
//  - reports: acknowledgements, failures and connection changes, from any libnats thread to the
//    client thread (an MPSC mailbox), followed by a wake() of the destination;
//  - the wake guard: the destination (PublishEvents) dies with the publisher, while libnats may
//    still call back; a callback wakes it only inside enter()/leave(), and detach() waits until
//    no callback is inside.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "mailbox.hpp"
#include "nats_outbox.hpp"
#include "publisher.hpp"

namespace relay {

struct NatsReport {
  enum class Kind : std::uint8_t {
    acknowledged,    // id stored by the stream (or a duplicate of a stored one)
    failed,          // id not stored, or no answer within timeout_ms
    rejected,        // id refused for good (larger than the server's max_payload or the stream's max_msg_size)
    connected,       // first connection
    reconnected,     // connection back after a loss
    disconnected,    // connection lost (`text`: the library's last error)
    connect_failed,  // no server reachable on the first round; retrying
    closed,          // the connection is closed for good (libnats gave up)
  };
  Kind kind;
  std::uint64_t id = 0;
  std::string text;
};

class NatsBridge {
 public:
  NatsBridge(std::size_t capacity, std::int64_t ack_timeout) : outbox(capacity), ack_timeout_ms(ack_timeout) {}

  NatsOutbox outbox;
  const std::int64_t ack_timeout_ms;  // for the timeout's report text
  Mailbox<NatsReport> reports;
  // relaxed would lose nothing for the counter itself; release/acquire so a session thread that
  // sees the bump also sees the commit or stop that preceded it (see nats_session.cpp).
  std::atomic<std::uint32_t> work{0};
  std::atomic<bool> stopping{false};  // release/acquire: the same pairing as `work`
  // The publisher saw no report for timeout_ms with messages in flight: the session takes every
  // message libnats still waits on off its pending list and reports them failed. Release/acquire:
  // the same pairing as `work`.
  std::atomic<bool> expire{false};
  // Set by libnats's closed callback, the last connection callback there is; seq_cst with
  // `callers` below (see closed_and_quiet).
  std::atomic<bool> closed_seen{false};
  // The session thread has returned from its work (join() will not wait). release/acquire: the
  // reaper that sees it joins a thread that no longer touches anything.
  std::atomic<bool> session_done{false};

  // Any libnats thread: queue a report and wake the destination, if there still is one.
  void report(NatsReport r) {
    enter();
    reports.push(std::make_shared<NatsReport>(std::move(r)));
    wake();
    leave();
  }
  void signal_closed() {
    enter();
    closed_seen.store(true, std::memory_order_seq_cst);
    leave();  // the last touch of this object by the callback
  }
  // Session thread: the closed callback ran and no callback is still inside the bridge.
  bool closed_and_quiet() const noexcept {
    return closed_seen.load(std::memory_order_seq_cst) && callers_.load(std::memory_order_seq_cst) == 0;
  }

  // Client thread.
  void attach(PublishEvents* events) noexcept { events_.store(events, std::memory_order_seq_cst); }
  // After this, no callback calls the old PublishEvents; waits for one that is calling it now
  // (an ev_async_send: microseconds).
  void detach() noexcept {
    events_.store(nullptr, std::memory_order_seq_cst);
    while (callers_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }
  void bump_work() noexcept {
    work.fetch_add(1, std::memory_order_release);
    work.notify_one();
  }

 private:
  // seq_cst on callers_ and events_ (both sides): a Dekker pair — either the callback's load
  // sees null, or detach()'s load of callers_ sees the callback inside and waits for it.
  void enter() noexcept { callers_.fetch_add(1, std::memory_order_seq_cst); }
  void leave() noexcept { callers_.fetch_sub(1, std::memory_order_seq_cst); }
  void wake() noexcept {
    if (PublishEvents* e = events_.load(std::memory_order_seq_cst)) e->wake();
  }

  std::atomic<PublishEvents*> events_{nullptr};
  std::atomic<int> callers_{0};
};

}  // namespace relay
