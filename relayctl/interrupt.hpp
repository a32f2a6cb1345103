// interrupt: Ctrl-C (SIGINT) and SIGTERM as a flag a loop can poll, for `stats --watch`, which
// must stop its stream cleanly instead of dying mid-redraw.
#pragma once

namespace relayctl {

// While one exists, SIGINT and SIGTERM set the flag instead of terminating; the previous
// handlers come back when it is destroyed. One at a time.
class InterruptFlag {
 public:
  InterruptFlag();
  ~InterruptFlag();
  InterruptFlag(const InterruptFlag&) = delete;
  InterruptFlag& operator=(const InterruptFlag&) = delete;

  bool raised() const noexcept;
};

}  // namespace relayctl
