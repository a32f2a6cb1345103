// queue_bench: Google Benchmark microbenchmarks of the queue alone (daemon/queue/queue.hpp, cursor.hpp).
//
//   BM_Append            64-byte messages, publish() every 64 (relayd publishes once per
//                        recvmmsg batch); reports ns_per_msg.
//   BM_Consume/<c>       c cursors (1, 2, 8) each peek()+advance() through the same messages in
//                        batches of kPeekBatch; reports ns_per_msg_per_cursor.
// Single-threaded on purpose: it measures the code paths, not cache-line traffic between the
// server and client threads (the end-to-end benchmark covers that). Timing is manual so the
// untimed half (filling for BM_Consume, reclaim for both) stays in the loop without being counted:
// reclaim() runs every chunk so segments are recycled as in relayd and the budget never fills.
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <vector>

#include "cursor.hpp"
#include "queue.hpp"

namespace {

using relay::Cursor;
using relay::MessageView;
using relay::Queue;
using relay::QueueConfig;
using relay::StartAt;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMessage = 64;
constexpr std::size_t kPublishEvery = 64;
constexpr std::size_t kChunk = 4096;  // messages per benchmark iteration
constexpr std::size_t kPeekBatch = 256;

QueueConfig bench_config() {
  QueueConfig cfg;
  cfg.max_queue_bytes = std::size_t{64} << 20;  // 64 segments: far more than one chunk ever holds
  return cfg;
}

// Appends one chunk, publishing every kPublishEvery messages.
void append_chunk(Queue& q, const std::array<std::byte, kMessage>& msg, std::int64_t& now) {
  for (std::size_t i = 0; i < kChunk; i += kPublishEvery) {
    for (std::size_t j = 0; j < kPublishEvery; ++j)
      if (q.append(msg, now) != relay::AppendStatus::ok) throw std::runtime_error("queue full: reclaim fell behind");
    q.publish();
    now += 1000;  // 1 µs per batch: marks are taken as in relayd (at most one per ms)
  }
}

// Drains everything published; returns the messages seen.
std::size_t drain(Cursor& c, std::vector<MessageView>& views) {
  std::size_t total = 0;
  for (;;) {
    const std::size_t n = c.peek(views);
    if (n == 0) return total;
    benchmark::DoNotOptimize(views[n - 1].payload);
    c.advance(std::span(views).first(n));
    total += n;
  }
}

double elapsed_ns(Clock::time_point t0) { return std::chrono::duration<double, std::nano>(Clock::now() - t0).count(); }

void BM_Append(benchmark::State& state) {
  Queue q(bench_config());
  const std::array<std::byte, kMessage> msg{};
  std::int64_t now = 1;
  double ns = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    append_chunk(q, msg, now);
    const double dt = elapsed_ns(t0);
    state.SetIterationTime(dt * 1e-9);
    ns += dt;
    q.reclaim();  // no cursors: everything published may be recycled
  }
  const auto msgs = static_cast<double>(state.iterations() * kChunk);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kChunk));
  state.counters["ns_per_msg"] = ns / msgs;
}
BENCHMARK(BM_Append)->UseManualTime();

void BM_Consume(benchmark::State& state) {
  Queue q(bench_config());
  const auto ncursors = static_cast<std::size_t>(state.range(0));
  std::vector<std::unique_ptr<Cursor>> cursors;
  for (std::size_t i = 0; i < ncursors; ++i) cursors.push_back(std::make_unique<Cursor>(q, StartAt::tail));
  std::vector<MessageView> views(kPeekBatch);
  const std::array<std::byte, kMessage> msg{};
  std::int64_t now = 1;
  double ns = 0;
  for (auto _ : state) {
    append_chunk(q, msg, now);
    const auto t0 = Clock::now();
    for (auto& c : cursors)
      if (drain(*c, views) != kChunk) state.SkipWithError("a cursor did not see the whole chunk");
    const double dt = elapsed_ns(t0);
    state.SetIterationTime(dt * 1e-9);
    ns += dt;
    q.reclaim();
  }
  const auto msgs = static_cast<double>(state.iterations() * kChunk);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kChunk * ncursors));
  state.counters["ns_per_msg_per_cursor"] = ns / (msgs * static_cast<double>(ncursors));
}
BENCHMARK(BM_Consume)->UseManualTime()->ArgName("cursors")->Arg(1)->Arg(2)->Arg(8);

}  // namespace

BENCHMARK_MAIN();
