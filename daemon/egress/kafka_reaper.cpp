#include "kafka_reaper.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "thread_name.hpp"

namespace relay {
namespace {

// One short-lived thread per handle (rd_kafka_destroy takes up to a couple of seconds while
// librdkafka's broker threads notice; several destinations removed at once, or at exit, should
// not queue behind each other), and a mutex and condition variable to track them: this is far
// off the data path (a destination removed).
class Reaper {
 public:
  Reaper() = default;
  ~Reaper() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return reaped_ == handed_; });
    join_finished(lock);
  }
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  void hand_over(rd_kafka_t* rk, std::shared_ptr<void> keep_alive) {
    std::unique_lock lock(mutex_);
    join_finished(lock);
    const std::uint64_t serial = handed_;  // counted once the thread exists (it may fail to start)
    workers_.emplace(serial, std::thread([this, rk, serial, keep = std::move(keep_alive)]() mutable {
                       name_this_thread("relay-kreaper");
                       // Purged, so destroy does not wait for message.timeout.ms on what a dead broker holds.
                       rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                       rd_kafka_destroy(rk);
                       keep.reset();
                       std::lock_guard done_lock(mutex_);
                       finished_.push_back(serial);
                       ++reaped_;
                       done_.notify_all();
                     }));
    ++handed_;
  }

  void wait_idle() {
    std::unique_lock lock(mutex_);
    const auto target = handed_;
    done_.wait(lock, [&] { return reaped_ >= target; });
    join_finished(lock);
  }

 private:
  // Joins the threads that said they are done: each only has to return from its last line. A
  // thread reports under mutex_, which hand_over holds while it files the thread in workers_,
  // so every serial in finished_ is there.
  void join_finished(std::unique_lock<std::mutex>& lock) {
    std::vector<std::thread> ended;
    for (const auto serial : finished_) {
      const auto it = workers_.find(serial);
      ended.push_back(std::move(it->second));
      workers_.erase(it);
    }
    finished_.clear();
    lock.unlock();
    for (auto& t : ended) t.join();
    lock.lock();
  }

  std::mutex mutex_;
  std::condition_variable done_;
  std::map<std::uint64_t, std::thread> workers_;
  std::vector<std::uint64_t> finished_;
  std::uint64_t handed_ = 0;
  std::uint64_t reaped_ = 0;
};

Reaper& reaper() {
  static Reaper instance;
  return instance;
}

}  // namespace

void reap_kafka_handle(rd_kafka_t* rk, std::shared_ptr<void> keep_alive) noexcept {
  try {
    reaper().hand_over(rk, std::move(keep_alive));
  } catch (const std::exception& e) {
    // Only a failure to start the thread or to allocate gets here: leaking one handle (its
    // threads keep running, harmlessly idle) beats blocking the client thread in its destroy.
    spdlog::error("kafka: could not hand a producer over for teardown ({}); it is left running", e.what());
  }
}

void wait_kafka_handles_reaped() noexcept {
  try {
    reaper().wait_idle();
  } catch (const std::exception&) {
    // As above: the thread could not start, so there is nothing it could finish.
  }
}

}  // namespace relay
