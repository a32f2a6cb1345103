// Unit tests of CommandChannel: control threads hand commands to the client thread and wait for
// the answer. A caller told "nothing changed" must be able to rely on it: the command it gave
// up on is never applied afterwards.
#include "command_channel.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "timeouts.hpp"

namespace relay {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Apply = std::function<void(const std::shared_ptr<Command>&)>;

std::shared_ptr<Command> removal(std::uint64_t id) {
  auto cmd = std::make_shared<Command>();
  cmd->kind = Command::Kind::remove;
  cmd->removal.id = id;
  return cmd;
}

Deadline in(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

// A deadline a healthy call never reaches, scaled for sanitizer builds.
Deadline generous() { return in(test::scaled(10s)); }

// Answers a removal with a snapshot that names the removed id.
void answer(const std::shared_ptr<Command>& cmd) {
  DestinationSnapshot s;
  s.id = cmd->removal.id;
  cmd->done.set_value(s);
}

// Stands in for the client thread: takes every command on its own thread each time it is woken,
// as relayd's ev_async callback does.
class Consumer {
 public:
  Consumer(CommandChannel& channel, Apply apply)
      : channel_(channel), apply_(std::move(apply)), thread_([this] { run(); }) {}
  ~Consumer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void wake() {
    {
      std::lock_guard lock(mu_);
      ++wakes_;
    }
    cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (std::uint64_t seen = 0;;) {
      cv_.wait(lock, [&] { return stop_ || wakes_ != seen; });
      if (stop_) return;
      seen = wakes_;
      lock.unlock();
      channel_.take_all(apply_);
      lock.lock();
    }
  }

  CommandChannel& channel_;
  Apply apply_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t wakes_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above is built
};

// Runs `fn`, expecting it to throw CommandError, and returns that error. When nothing is thrown
// the test fails and a placeholder (duplicate, empty message) comes back.
template <typename Fn>
CommandError thrown_by(Fn&& fn) {
  try {
    fn();
  } catch (const CommandError& e) {
    return e;
  }
  ADD_FAILURE() << "no CommandError thrown";
  return CommandError(CommandFailure::duplicate, "");
}

TEST(CommandChannel, CallReturnsTheAnswerGivenOnTheConsumerThread) {
  std::thread::id applied_on;
  Consumer* consumer = nullptr;
  CommandChannel channel([&] { consumer->wake(); });
  Consumer c(channel, [&](const std::shared_ptr<Command>& cmd) {
    applied_on = std::this_thread::get_id();
    answer(cmd);
  });
  consumer = &c;
  EXPECT_EQ(channel.call(removal(7), generous()).id, 7u);
  EXPECT_NE(applied_on, std::this_thread::get_id());
  EXPECT_NE(applied_on, std::thread::id{});
}

// Several control threads at once: each gets the answer to its own command.
TEST(CommandChannel, ConcurrentCallersEachGetTheirOwnAnswer) {
  constexpr int kCallers = 4;
  constexpr int kCalls = 50;
  Consumer* consumer = nullptr;
  CommandChannel channel([&] { consumer->wake(); });
  Consumer c(channel, answer);
  consumer = &c;
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const auto id = static_cast<std::uint64_t>(t * kCalls + i);
        bool right = false;
        try {
          right = channel.call(removal(id), generous()).id == id;
        } catch (const CommandError&) {}
        // relaxed: a count read after join.
        if (!right) wrong.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(CommandChannel, PostedCommandsAreAppliedOldestFirst) {
  CommandChannel channel([] {});
  for (std::uint64_t id = 1; id <= 3; ++id) channel.post(removal(id));
  std::vector<std::uint64_t> applied;
  channel.take_all([&](const std::shared_ptr<Command>& cmd) { applied.push_back(cmd->removal.id); });
  EXPECT_EQ(applied, (std::vector<std::uint64_t>{1, 2, 3}));
}

// The consumer never ran before the deadline: the caller is told nothing changed, and the
// command, still in the mailbox, must not happen when the consumer finally takes it.
TEST(CommandChannel, DeadlineBeforeTheConsumerRunsChangesNothing) {
  CommandChannel channel([] {});  // the client thread is busy: nobody takes the command yet
  const CommandError e = thrown_by([&] { channel.call(removal(1), in(20ms)); });
  EXPECT_EQ(e.failure(), CommandFailure::timed_out);
  EXPECT_THAT(e.what(), HasSubstr("nothing changed"));
  int applied = 0;
  channel.take_all([&](const std::shared_ptr<Command>&) { ++applied; });
  EXPECT_EQ(applied, 0) << "a command its caller gave up on was applied";
}

// A deadline that passed before the call (say, during a slow DNS lookup of the address) must not
// let the change happen: even a client thread that would take the command at once never sees it.
TEST(CommandChannel, DeadlinePassedBeforeTheCallChangesNothingEvenWithAnEagerConsumer) {
  int applied = 0;
  CommandChannel* self = nullptr;
  CommandChannel channel([&] {
    self->take_all([&](const std::shared_ptr<Command>& cmd) {
      ++applied;
      answer(cmd);
    });
  });
  self = &channel;
  const CommandError e = thrown_by([&] { channel.call(removal(1), in(-1ms)); });
  EXPECT_EQ(e.failure(), CommandFailure::timed_out);
  EXPECT_THAT(e.what(), HasSubstr("nothing changed"));
  EXPECT_EQ(applied, 0) << "a change was applied after its caller's deadline had passed";
}

// The consumer claimed the command but has not answered when the deadline passes: the caller
// must not be told "nothing changed", since the change is under way.
TEST(CommandChannel, DeadlineWhileApplyingSaysItCompletesInTheBackground) {
  std::shared_ptr<Command> in_progress;
  CommandChannel* self = nullptr;
  // The consumer runs at once (inside the wake-up) and keeps the command without answering.
  CommandChannel channel([&] { self->take_all([&](const std::shared_ptr<Command>& cmd) { in_progress = cmd; }); });
  self = &channel;
  const CommandError e = thrown_by([&] { channel.call(removal(1), in(20ms)); });
  EXPECT_EQ(e.failure(), CommandFailure::timed_out);
  EXPECT_THAT(e.what(), HasSubstr("completes in the background"));
  ASSERT_NE(in_progress, nullptr) << "the command was not handed to the consumer";
  EXPECT_NO_THROW(answer(in_progress)) << "the late answer must still be deliverable";
}

TEST(CommandChannel, ReleaseCallersEndsAWaitingCallWithShuttingDown) {
  std::atomic<bool> posted{false};
  CommandChannel channel([&] { posted.store(true, std::memory_order_release); });  // release: for the wait below
  // Far beyond the wait below, so only release_callers() can end the call in time.
  auto caller = std::async(std::launch::async, [&] { return channel.call(removal(1), in(test::scaled(60s))); });
  ASSERT_TRUE(test::wait_until([&] { return posted.load(std::memory_order_acquire); }, 10s));
  channel.release_callers();
  ASSERT_EQ(caller.wait_for(test::scaled(10s)), std::future_status::ready) << "release_callers() did not end the call";
  const CommandError e = thrown_by([&] { caller.get(); });
  EXPECT_EQ(e.failure(), CommandFailure::shutting_down);
  EXPECT_THAT(e.what(), HasSubstr("nothing changed"));
  int applied = 0;
  channel.take_all([&](const std::shared_ptr<Command>&) { ++applied; });
  EXPECT_EQ(applied, 0) << "the caller was told nothing changed";
}

TEST(CommandChannel, CallAfterReleaseCallersFailsAtOnce) {
  CommandChannel channel([] {});
  channel.release_callers();
  const auto start = std::chrono::steady_clock::now();
  const CommandError e = thrown_by([&] { channel.call(removal(1), generous()); });
  EXPECT_EQ(e.failure(), CommandFailure::shutting_down);
  EXPECT_LT(std::chrono::steady_clock::now() - start, test::scaled(5s)) << "waited for the deadline";
}

// The consumer lets go of a command just after answering it. Waiting for that keeps the
// command's destruction, and with it the exception it carries, on the caller's thread: the
// exception's reference count lives in uninstrumented libstdc++, so TSan would otherwise report
// the consumer freeing what the caller read.
void wait_until_only_caller_holds(const std::shared_ptr<Command>& cmd) {
  EXPECT_TRUE(test::wait_until([&] { return cmd.use_count() == 1; }, 10s)) << "the consumer kept the command";
}

TEST(CommandChannel, ExceptionFromApplyReachesTheCaller) {
  Consumer* consumer = nullptr;
  CommandChannel channel([&] { consumer->wake(); });
  Consumer c(channel, [](const std::shared_ptr<Command>&) { throw CommandError(CommandFailure::duplicate, "exists"); });
  consumer = &c;
  const auto cmd = removal(1);
  const CommandError e = thrown_by([&] { channel.call(cmd, generous()); });
  wait_until_only_caller_holds(cmd);
  EXPECT_EQ(e.failure(), CommandFailure::duplicate);
  EXPECT_STREQ(e.what(), "exists");
}

TEST(CommandChannel, AnyExceptionFromApplyReachesTheCallerUnchanged) {
  Consumer* consumer = nullptr;
  CommandChannel channel([&] { consumer->wake(); });
  Consumer c(channel, [](const std::shared_ptr<Command>&) { throw std::logic_error("bug in apply"); });
  consumer = &c;
  const auto cmd = removal(1);
  try {
    channel.call(cmd, generous());
    ADD_FAILURE() << "apply's exception was swallowed";
  } catch (const std::logic_error& e) {
    wait_until_only_caller_holds(cmd);
    EXPECT_STREQ(e.what(), "bug in apply");
  }
}

}  // namespace
}  // namespace relay
