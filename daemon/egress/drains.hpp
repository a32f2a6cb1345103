// drains: the client thread's destinations on their way out, each with a target (the message id
// it must have written) and a deadline, and the caller to answer when it is done.
//
// A removal with drain waits for the destination to write what was queued for it when asked; an
// immediate removal of a destination that is half-way through a frame waits (at most a second)
// for that one message, so the peer never sees a cut frame; shutdown drains every destination
// to the final tail. Thread: client thread only.
#pragma once

#include <ev.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace relay {

struct Command;

class Drains {
 public:
  enum class Finish { drained, timed_out, immediate };
  struct Entry {
    std::uint64_t id = 0;
    std::uint64_t target = 0;  // done once the destination has written every message before it
    ev_tstamp deadline = 0;
    std::shared_ptr<Command> cmd;  // the removal to answer; null for shutdown drains
    bool immediate = false;        // an immediate removal finishing a half-sent message
  };
  struct Finished {
    Entry entry;
    Finish how;
  };

  bool empty() const noexcept { return entries_.empty(); }
  // True when a removal (not only the shutdown drain) of `id` is under way.
  bool removing(std::uint64_t id) const noexcept;
  // A removal under way (or an immediate one finishing its message). When the shutdown drain of
  // the same destination is already running, the removal joins it: one entry, its caller
  // answered when it ends, the earlier deadline and the later target.
  void add(Entry e);
  void forget(std::uint64_t id);
  // Shutdown: `id` must reach `tail` by `deadline`. A removal already under way keeps its caller,
  // with the later target and the earlier deadline.
  void drain_to(std::uint64_t id, std::uint64_t tail, ev_tstamp deadline);
  // Takes out every entry that `done` says is complete, or whose deadline is not after `now`.
  std::vector<Finished> take_finished(ev_tstamp now, const std::function<bool(const Entry&)>& done);

 private:
  std::vector<Entry> entries_;
};

}  // namespace relay
