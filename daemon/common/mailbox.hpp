// mailbox: a lock-free many-producer, one-consumer hand-off of commands to an event-loop thread.
//
// Producers (control-plane threads) push with a CAS on the head of an intrusive stack; the
// consumer takes the whole stack with one exchange and reverses it into arrival order. Because
// the consumer never pops single nodes, there is no ABA problem. Paired with an ev_async in the
// owner, which wakes the loop after a push.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

namespace relay {

template <typename T>
class Mailbox {
 public:
  struct Node {
    std::shared_ptr<T> item;
    Node* next = nullptr;
  };

  Mailbox() = default;
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;
  ~Mailbox() { delete_list(head_.exchange(nullptr, std::memory_order_acquire)); }  // acquire: see take_all

  // Any thread.
  void push(std::shared_ptr<T> item) {
    auto* node = new Node{std::move(item), nullptr};
    // relaxed initial read: the CAS below validates it.
    node->next = head_.load(std::memory_order_relaxed);
    // release: the consumer that takes the node sees the item fully built.
    while (!head_.compare_exchange_weak(node->next, node, std::memory_order_release, std::memory_order_relaxed)) {}
  }

  // Owner thread: calls fn(item) for every pushed item, oldest first.
  template <typename Fn>
  void take_all(Fn&& fn) {
    // acquire: pairs with push()'s release.
    Node* list = head_.exchange(nullptr, std::memory_order_acquire);
    Node* ordered = nullptr;
    while (list != nullptr) {
      Node* next = list->next;
      list->next = ordered;
      ordered = list;
      list = next;
    }
    while (ordered != nullptr) {
      std::unique_ptr<Node> node(ordered);
      ordered = ordered->next;
      fn(std::move(node->item));
    }
  }

 private:
  static void delete_list(Node* n) {
    while (n != nullptr) delete std::exchange(n, n->next);
  }
  std::atomic<Node*> head_{nullptr};
};

}  // namespace relay
