// Unit tests of Drains: destinations on their way out, each finished when written up to its
// target, when its deadline passes, or (immediate removals) as soon as the cut message is done.
#include "drains.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "command_channel.hpp"

namespace relay {
namespace {

using Entry = Drains::Entry;
using Finish = Drains::Finish;

// `written` says how far each destination (by id) has written.
std::function<bool(const Entry&)> written_up_to(std::vector<std::pair<std::uint64_t, std::uint64_t>> written) {
  return [written = std::move(written)](const Entry& e) {
    const auto it = std::ranges::find_if(written, [&](const auto& w) { return w.first == e.id; });
    return it != written.end() && it->second >= e.target;
  };
}

const auto kNothingWritten = [](const Entry&) { return false; };

Entry removal(std::uint64_t id, std::uint64_t target, ev_tstamp deadline, bool immediate = false) {
  return Entry{id, target, deadline, std::make_shared<Command>(), immediate};
}

TEST(Drains, StartsEmpty) {
  Drains d;
  EXPECT_TRUE(d.empty());
  EXPECT_FALSE(d.removing(1));
  EXPECT_TRUE(d.take_finished(0, kNothingWritten).empty());
}

TEST(Drains, AnEntryWhoseTargetIsReachedIsDrained) {
  Drains d;
  d.add(removal(1, 100, 50));
  d.add(removal(2, 100, 50));
  EXPECT_TRUE(d.take_finished(10, written_up_to({{1, 99}, {2, 0}})).empty()) << "one short of the target";
  const auto done = d.take_finished(10, written_up_to({{1, 100}, {2, 0}}));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].entry.id, 1u);
  EXPECT_EQ(done[0].how, Finish::drained);
  EXPECT_NE(done[0].entry.cmd, nullptr) << "the caller to answer comes with it";
  EXPECT_FALSE(d.removing(1));
  EXPECT_TRUE(d.removing(2));
  EXPECT_FALSE(d.empty());
}

TEST(Drains, AnEntryTimesOutWhenItsDeadlineIsNotAfterNow) {
  Drains d;
  d.add(removal(1, 100, 50));
  EXPECT_TRUE(d.take_finished(49.999, kNothingWritten).empty());
  const auto done = d.take_finished(50, kNothingWritten);  // the deadline itself counts as passed
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].how, Finish::timed_out);
  EXPECT_TRUE(d.empty());
}

// Reaching the target wins over a passed deadline: the destination did write everything.
TEST(Drains, ReachingTheTargetByTheDeadlineIsDrainedNotTimedOut) {
  Drains d;
  d.add(removal(1, 100, 50));
  const auto done = d.take_finished(60, written_up_to({{1, 100}}));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].how, Finish::drained);
}

TEST(Drains, ImmediateRemovalsFinishAsImmediate) {
  Drains d;
  d.add(removal(1, 100, 50, true));
  d.add(removal(2, 100, 50, true));
  EXPECT_TRUE(d.take_finished(10, kNothingWritten).empty()) << "the cut message is not finished yet";
  auto done = d.take_finished(10, written_up_to({{1, 100}}));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].entry.id, 1u);
  EXPECT_EQ(done[0].how, Finish::immediate);
  done = d.take_finished(50, kNothingWritten);  // out of time: removed anyway, still immediate
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].entry.id, 2u);
  EXPECT_EQ(done[0].how, Finish::immediate);
}

// A shutdown drain has no caller: it is not a removal.
TEST(Drains, DrainToWithoutARemovalAddsAShutdownDrain) {
  Drains d;
  d.drain_to(3, 500, 20);
  EXPECT_FALSE(d.empty());
  EXPECT_FALSE(d.removing(3));
  const auto done = d.take_finished(20, kNothingWritten);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].entry.target, 500u);
  EXPECT_DOUBLE_EQ(done[0].entry.deadline, 20.0);
  EXPECT_EQ(done[0].entry.cmd, nullptr);
  EXPECT_EQ(done[0].how, Finish::timed_out);
}

// Shutdown while a removal is draining: one entry, keeping the removal's caller, and the stricter
// of both (the later target, the earlier deadline).
TEST(Drains, DrainToMergesWithARemovalKeepingLaterTargetAndEarlierDeadline) {
  Drains d;
  Entry r = removal(1, 100, 50);
  const auto cmd = r.cmd;
  d.add(std::move(r));
  d.add(removal(2, 300, 10));
  d.drain_to(1, 200, 80);  // later target, later deadline
  d.drain_to(2, 250, 5);   // earlier target, earlier deadline
  EXPECT_TRUE(d.removing(1));
  EXPECT_TRUE(d.removing(2));
  const auto done = d.take_finished(100, kNothingWritten);
  ASSERT_EQ(done.size(), 2u) << "drain_to must merge, not add a second entry";
  EXPECT_EQ(done[0].entry.id, 1u);
  EXPECT_EQ(done[0].entry.target, 200u);
  EXPECT_DOUBLE_EQ(done[0].entry.deadline, 50.0);
  EXPECT_EQ(done[0].entry.cmd, cmd);
  EXPECT_EQ(done[1].entry.id, 2u);
  EXPECT_EQ(done[1].entry.target, 300u);
  EXPECT_DOUBLE_EQ(done[1].entry.deadline, 5.0);
}

TEST(Drains, MergedTargetMustBeReachedBeforeTheEntryIsDrained) {
  Drains d;
  d.add(removal(1, 100, 50));
  d.drain_to(1, 200, 80);
  EXPECT_TRUE(d.take_finished(10, written_up_to({{1, 150}})).empty()) << "drained to the old target only";
  EXPECT_EQ(d.take_finished(10, written_up_to({{1, 200}})).size(), 1u);
}

TEST(Drains, ForgetDropsEveryEntryOfThatDestination) {
  Drains d;
  d.add(removal(1, 100, 50));
  d.add(removal(2, 100, 50));
  d.forget(1);
  EXPECT_FALSE(d.removing(1));
  EXPECT_TRUE(d.removing(2));
  const auto done = d.take_finished(50, kNothingWritten);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].entry.id, 2u);
}

}  // namespace
}  // namespace relay
