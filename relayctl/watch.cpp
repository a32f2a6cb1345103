#include "watch.hpp"

#include <unistd.h>

#include <atomic>
#include <iostream>
#include <optional>
#include <thread>

#include "duration.hpp"
#include "interrupt.hpp"
#include "output.hpp"
#include "rates.hpp"

namespace relayctl {

namespace pb = relay::v1;

namespace {

// How often Ctrl-C is checked: a blocked Read cannot poll, so a helper thread cancels the call.
constexpr std::chrono::milliseconds kInterruptPoll{50};
// Home the cursor and clear the screen, so each snapshot replaces the last one.
constexpr const char* kClearScreen = "\x1b[H\x1b[2J";

// Cancels `ctx` once Ctrl-C is pressed or `done` is set.
void cancel_on_interrupt(const InterruptFlag& flag, const std::atomic<bool>& done, grpc::ClientContext& ctx) {
  while (!done.load()) {
    if (flag.raised()) {
      ctx.TryCancel();
      return;
    }
    std::this_thread::sleep_for(kInterruptPoll);
  }
}

class Redrawer {
 public:
  explicit Redrawer(Session& s) : session_(s), clear_(!s.json() && &s.out() == &std::cout && isatty(STDOUT_FILENO)) {}

  void show(const pb::Stats& cur) {
    auto& out = session_.out();
    if (session_.json()) {
      print_json(out, cur);  // one object per line; consumers compute their own rates
    } else {
      if (clear_) out << kClearScreen;
      // The first snapshot has no rates yet, but gets the rate columns ("-") so the layout
      // does not jump on the second.
      const auto rates = prev_ ? compute_rates(*prev_, cur) : std::nullopt;
      const StatsRates none;
      print_stats(out, cur, rates ? &*rates : &none);
      if (!clear_) out << '\n';  // blank line between snapshots when not redrawing in place
    }
    out.flush();
    prev_ = cur;
  }

 private:
  Session& session_;
  const bool clear_;
  std::optional<pb::Stats> prev_;
};

}  // namespace

int watch_stats(Session& session, const WatchOptions& options) {
  const InterruptFlag interrupted;
  grpc::ClientContext ctx;  // no deadline: the stream runs until stopped
  pb::WatchStatsRequest req;
  set_duration(*req.mutable_interval(), options.interval);

  auto stream = session.relay().WatchStats(&ctx, req);
  std::atomic<bool> done{false};
  std::thread canceller(cancel_on_interrupt, std::cref(interrupted), std::cref(done), std::ref(ctx));
  Redrawer redraw(session);
  pb::Stats msg;
  std::uint64_t seen = 0;
  while (stream->Read(&msg)) {
    redraw.show(msg);
    if (options.count != 0 && ++seen >= options.count) {
      ctx.TryCancel();
      break;
    }
  }
  done = true;
  canceller.join();
  const grpc::Status status = stream->Finish();
  const bool stopped_by_us = interrupted.raised() || (options.count != 0 && seen >= options.count);
  if (!stopped_by_us) session.check(status);
  return kExitOk;
}

}  // namespace relayctl
