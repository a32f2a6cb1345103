// command_channel: how control threads hand destination commands to the client thread and wait
// for the answer, without a lock on the client thread's side.
//
// A caller (any thread) pushes a Command into a lock-free mailbox, wakes the client thread and
// waits on the command's promise until its deadline. The client thread takes every command at
// its next wake-up and answers through the promise. A caller whose deadline passes races the
// client thread for the command's `claim`: whoever moves it first decides whether the command
// happens, so a caller told "nothing changed" can rely on it.
//
// Threads: call() and release_callers() on any thread; take_all() on the client thread only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>

#include "clock.hpp"
#include "command_error.hpp"
#include "destination_snapshot.hpp"
#include "egress_config.hpp"
#include "mailbox.hpp"
#include "publisher.hpp"
#include "start_at.hpp"

namespace relay {

struct DestinationShared;

// What a removal asks for.
struct Removal {
  std::uint64_t id = 0;
  bool drain = false;  // write what is queued for it first
  std::chrono::milliseconds drain_timeout{5000};
};

struct Command {
  enum class Kind { add, remove, shutdown, timing } kind = Kind::add;
  std::shared_ptr<DestinationShared> dest;     // add
  StartAt start = StartAt::tail;               // add
  std::optional<std::uint64_t> resume;         // add: a recorded position to start at instead
  std::unique_ptr<Publisher> publisher;        // add: kafka@, nats@ and groups (built by the caller)
  std::optional<std::uint64_t> replaces;       // add: the destination it takes over from
  Removal removal;                             // remove
  std::chrono::milliseconds drain_timeout{0};  // shutdown
  DestinationConfig timing;                    // timing: what every destination uses from now on
  // 0 pending, 1 claimed by the client thread, 2 abandoned by a caller whose deadline passed.
  std::atomic<int> claim{0};
  std::promise<DestinationSnapshot> done;
};

class CommandChannel {
 public:
  // `wake` makes the client thread call take_all() soon (an ev_async_send); any thread.
  explicit CommandChannel(std::function<void()> wake) : wake_(std::move(wake)) {}

  // Any thread: hands `cmd` over and returns the client thread's answer. Throws what the client
  // thread threw, or CommandError(timed_out / shutting_down) when the deadline passes or
  // release_callers() is called first.
  DestinationSnapshot call(std::shared_ptr<Command> cmd, Deadline deadline);
  // Any thread: hands `cmd` over without waiting.
  void post(std::shared_ptr<Command> cmd);
  // Any thread: callers waiting in call() give up now with shutting_down. A command the client
  // thread had not claimed yet is dropped ("nothing changed"); one it had claimed completes.
  void release_callers() noexcept;

  // Client thread: calls apply(cmd) for every command its caller has not abandoned, oldest
  // first. An exception from apply() becomes the caller's.
  void take_all(const std::function<void(const std::shared_ptr<Command>&)>& apply);

 private:
  std::function<void()> wake_;
  Mailbox<Command> mailbox_;
  std::atomic<bool> closing_{false};
};

}  // namespace relay
