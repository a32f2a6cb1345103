// thread_owner: a debug check that a single-thread role (the queue's producer, its reclaimer) is
// played by one thread at a time, as the lock-free protocols assume (queue/QUEUE.md).
//
// The first thread that asks takes the role; a thread that joined the owner may take it over
// with hand_over() (ServerThread::stop publishes the last batch from the joining thread). Used
// only inside RELAY_ASSERT, so release builds never call it.
#pragma once

#include <atomic>
#include <thread>

namespace relay {

class ThreadOwner {
 public:
  // True when the calling thread holds the role, taking it if nobody does.
  bool held_by_caller() noexcept {
    const std::thread::id me = std::this_thread::get_id();
    std::thread::id none{};
    // acq_rel/acquire: the role's previous work happens-before ours (the hand-over is a join).
    return owner_.compare_exchange_strong(none, me, std::memory_order_acq_rel, std::memory_order_acquire) || none == me;
  }
  // The role is free again; the next caller of held_by_caller() takes it.
  void hand_over() noexcept { owner_.store(std::thread::id{}, std::memory_order_release); }  // release: pairs above

 private:
  std::atomic<std::thread::id> owner_{};
};

}  // namespace relay
