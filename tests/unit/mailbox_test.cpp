// Unit tests of Mailbox: the lock-free many-producer, one-consumer hand-off to the client thread.
// Order per producer, nothing lost or doubled under concurrent pushes, nothing leaked (ASan) or
// raced (TSan) when items are left behind.
#include "mailbox.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "timeouts.hpp"

namespace relay {
namespace {

using namespace std::chrono_literals;

struct Item {
  int producer = 0;
  int seq = 0;
};

std::vector<int> take_seqs(Mailbox<Item>& box) {
  std::vector<int> seqs;
  box.take_all([&](std::shared_ptr<Item> item) { seqs.push_back(item->seq); });
  return seqs;
}

TEST(Mailbox, TakeAllReturnsItemsInArrivalOrder) {
  Mailbox<Item> box;
  for (int i = 0; i < 5; ++i) box.push(std::make_shared<Item>(Item{0, i}));
  EXPECT_EQ(take_seqs(box), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(take_seqs(box).empty()) << "taken items must not come back";
  box.push(std::make_shared<Item>(Item{0, 5}));
  EXPECT_EQ(take_seqs(box), std::vector<int>{5});
}

// fn may push (a command that posts another); that item waits for the next take_all instead of
// extending the list being walked.
TEST(Mailbox, ItemsPushedDuringTakeAllWaitForTheNextOne) {
  Mailbox<Item> box;
  box.push(std::make_shared<Item>(Item{0, 0}));
  std::vector<int> first;
  box.take_all([&](std::shared_ptr<Item> item) {
    first.push_back(item->seq);
    box.push(std::make_shared<Item>(Item{0, item->seq + 1}));
  });
  EXPECT_EQ(first, std::vector<int>{0});
  EXPECT_EQ(take_seqs(box), std::vector<int>{1});
}

TEST(Mailbox, ItemsLeftBehindAreFreedWithTheMailbox) {
  std::vector<std::weak_ptr<Item>> left;
  {
    Mailbox<Item> box;
    for (int i = 0; i < 10; ++i) {
      auto item = std::make_shared<Item>(Item{0, i});
      left.push_back(item);
      box.push(std::move(item));
    }
    for (const auto& w : left) ASSERT_FALSE(w.expired()) << "the mailbox must own what it holds";
  }
  for (const auto& w : left) EXPECT_TRUE(w.expired());
}

TEST(Mailbox, TakenItemsAreFreedOnceTheConsumerDropsThem) {
  Mailbox<Item> box;
  std::weak_ptr<Item> w;
  {
    auto item = std::make_shared<Item>();
    w = item;
    box.push(std::move(item));
  }
  box.take_all([](std::shared_ptr<Item>) {});
  EXPECT_TRUE(w.expired()) << "take_all must not keep a reference after fn returns";
}

// Several producers push at once while the consumer keeps taking: every item arrives exactly
// once, and each producer's items in the order it pushed them.
TEST(Mailbox, ConcurrentProducersLoseNothingAndKeepTheirOrder) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 20'000;
  Mailbox<Item> box;
  std::atomic<bool> go{false};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      // acquire: nothing is published through it; it only lines the producers up.
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < kPerProducer; ++i) box.push(std::make_shared<Item>(Item{p, i}));
    });
  }
  std::vector<int> next(kProducers, 0);  // the seq each producer's next item must have
  std::size_t taken = 0;
  std::size_t out_of_order = 0;
  go.store(true, std::memory_order_release);  // release: pairs with the producers' acquire
  const bool all = test::wait_until(
      [&] {
        box.take_all([&](std::shared_ptr<Item> item) {
          if (item->seq != next[item->producer]) ++out_of_order;
          next[item->producer] = item->seq + 1;
          ++taken;
        });
        return taken >= std::size_t{kProducers} * kPerProducer;
      },
      30s);
  for (auto& t : producers) t.join();
  box.take_all([&](std::shared_ptr<Item>) { ++taken; });  // anything beyond the expected count
  EXPECT_TRUE(all) << "only " << taken << " items arrived";
  EXPECT_EQ(taken, std::size_t{kProducers} * kPerProducer) << "an item was lost or doubled";
  EXPECT_EQ(out_of_order, 0u);
  for (int p = 0; p < kProducers; ++p) EXPECT_EQ(next[p], kPerProducer) << "producer " << p;
}

}  // namespace
}  // namespace relay
