#include "command_channel.hpp"

#include <string>

namespace relay {

namespace {

enum Claim : int { kPending = 0, kClaimed = 1, kAbandoned = 2 };

}  // namespace

void CommandChannel::post(std::shared_ptr<Command> cmd) {
  mailbox_.push(std::move(cmd));
  wake_();
}

DestinationSnapshot CommandChannel::call(std::shared_ptr<Command> cmd, Deadline deadline) {
  // Too late already (a slow address lookup, say): never handed over, so "nothing changed" holds
  // however quickly the client thread would have taken it.
  if (std::chrono::steady_clock::now() >= deadline)
    throw CommandError(CommandFailure::timed_out,
                       "the deadline passed before the change was handed over; nothing changed");
  auto result = cmd->done.get_future();
  post(cmd);
  // Sliced wait, so release_callers() can end it early when relayd shuts down.
  constexpr auto kSlice = std::chrono::milliseconds(50);
  // acquire: pairs with release_callers(); nothing else is published through it.
  while (!closing_.load(std::memory_order_acquire)) {
    const auto until = std::min(deadline, std::chrono::steady_clock::now() + kSlice);
    if (result.wait_until(until) == std::future_status::ready) return result.get();
    if (until == deadline) break;
  }
  const bool closing = closing_.load(std::memory_order_acquire);  // acquire: as above
  const CommandFailure failure = closing ? CommandFailure::shutting_down : CommandFailure::timed_out;
  const std::string why = closing ? "relayd is shutting down" : "the deadline passed";
  int expected = kPending;
  // acq_rel: either we abandon it before the client thread claims it, or we see its claim.
  if (cmd->claim.compare_exchange_strong(expected, kAbandoned, std::memory_order_acq_rel))
    throw CommandError(failure, why + " before the client thread applied the change; nothing changed");
  throw CommandError(failure, why + " while the change was being applied; it completes in the background");
}

void CommandChannel::release_callers() noexcept {
  // release: waiters that see it stop waiting; no other data rides on it.
  closing_.store(true, std::memory_order_release);
}

void CommandChannel::take_all(const std::function<void(const std::shared_ptr<Command>&)>& apply) {
  mailbox_.take_all([&](std::shared_ptr<Command> cmd) {
    int expected = kPending;
    // acq_rel: see call(); a command its caller abandoned is dropped unapplied.
    if (!cmd->claim.compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel)) return;
    try {
      apply(cmd);
    } catch (...) {
      cmd->done.set_exception(std::current_exception());
    }
  });
}

}  // namespace relay
