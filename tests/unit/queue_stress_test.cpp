// Multi-threaded stress of the queue protocol: one producer, consumers joining and leaving,
// the reclaimer running continuously with a small budget so eviction happens. Every consumer
// checks it sees an in-order, gap-free sequence apart from the skips it was told about.
// Runs under ThreadSanitizer in CI (label tsan).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "cursor.hpp"
#include "queue.hpp"

namespace relay {
namespace {

std::uint64_t decode(const MessageView& m) {
  std::uint64_t v = 0;
  std::memcpy(&v, m.payload, sizeof v);
  return v;
}

struct ConsumerReport {
  std::uint64_t messages = 0;
  std::uint64_t skipped = 0;
  std::uint64_t joins = 0;
  std::uint64_t errors = 0;
};

// One consumer thread: joins, reads a random number of messages checking each id, leaves, repeats.
// A slow consumer reads one message at a time and yields often, so it falls behind the budget.
void consume(Queue& q, const std::atomic<bool>& done, unsigned seed, bool slow, ConsumerReport& rep) {
  std::mt19937 rng(seed);
  std::vector<MessageView> views(128);
  while (!done.load(std::memory_order_acquire)) {  // acquire: pairs with the producer's final store
    Cursor c(q, rng() % 2 ? StartAt::tail : StartAt::head);
    ++rep.joins;
    std::uint64_t expect = c.id();
    const std::uint64_t budget = rng() % 20000;
    for (std::uint64_t seen = 0; seen < budget && !done.load(std::memory_order_acquire);) {
      const std::uint64_t skipped = c.skip_to_floor();
      rep.skipped += skipped;
      expect += skipped;
      const std::size_t n = c.peek(std::span(views.data(), slow ? 1 : 1 + rng() % views.size()));
      for (int y = 0; slow && y < 20; ++y) std::this_thread::yield();
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t got = decode(views[i]);
        if (got != expect) ++rep.errors;
        expect = got + 1;
        // Touch every payload byte so TSan sees the read of recycled memory, if any.
        volatile std::byte sink{};
        for (std::uint32_t b = 0; b < views[i].size; ++b) sink = views[i].payload[b];
        (void)sink;
      }
      c.advance(std::span(views).first(n));
      seen += n;
      rep.messages += n;
      if (n == 0) std::this_thread::yield();
      if (c.id() != expect) ++rep.errors;
    }
  }
}

TEST(QueueStress, ConsumersJoinAndLeaveWhileReclaimRuns) {
  QueueConfig cfg;
  cfg.segment_bytes = 16 * 1024;
  cfg.max_queue_bytes = 8 * cfg.segment_bytes;  // small: forces eviction and drops
  cfg.max_message = 256;
  cfg.max_cursors = 16;
  Queue q(cfg);
  std::atomic<bool> done{false};

  constexpr int kConsumers = 4;
  std::vector<ConsumerReport> reports(kConsumers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kConsumers; ++i)
    threads.emplace_back(consume, std::ref(q), std::cref(done), 1234u + i, i == 0, std::ref(reports[i]));
  std::thread reclaimer([&] {
    while (!done.load(std::memory_order_acquire)) {  // acquire: pairs with the final store
      q.reclaim();
      std::this_thread::yield();
    }
  });

  constexpr std::uint64_t kMessages = 400'000;
  std::uint64_t next = 0;
  std::uint64_t full = 0;
  std::mt19937 rng(99);
  std::byte buf[256] = {};
  for (std::uint64_t sent = 0; sent < kMessages; ++sent) {
    std::memcpy(buf, &next, sizeof next);
    const std::size_t size = sizeof next + rng() % 64;
    if (q.append(std::span(buf, size), static_cast<std::int64_t>(sent) * 1000) == AppendStatus::ok)
      ++next;
    else
      ++full, std::this_thread::yield();  // let consumers and the reclaimer make room
    if (sent % 32 == 0) q.publish();
  }
  q.publish();
  done.store(true, std::memory_order_release);  // release: consumers stop after seeing it
  for (auto& t : threads) t.join();
  reclaimer.join();

  std::uint64_t total = 0;
  std::uint64_t skipped = 0;
  for (const auto& r : reports) {
    skipped += r.skipped;
    EXPECT_EQ(r.errors, 0u);
    EXPECT_GT(r.joins, 0u);
    total += r.messages;
  }
  EXPECT_GT(total, 0u);
  EXPECT_GT(skipped, 0u) << "the budget is small enough that lagging consumers must be moved";
  EXPECT_EQ(q.tail(), next);
  std::printf("stress: %llu appended, %llu dropped (queue full), %llu read in total, %llu skipped\n",
              static_cast<unsigned long long>(next), static_cast<unsigned long long>(full),
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(skipped));
}

}  // namespace
}  // namespace relay
