#include "interrupt.hpp"

#include <csignal>

namespace relayctl {

namespace {

// sig_atomic_t: the only thing a signal handler may portably write.
volatile std::sig_atomic_t g_raised = 0;
struct sigaction g_old_int {};
struct sigaction g_old_term {};

void on_signal(int) { g_raised = 1; }

}  // namespace

InterruptFlag::InterruptFlag() {
  g_raised = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptFlag::~InterruptFlag() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

bool InterruptFlag::raised() const noexcept { return g_raised != 0; }

}  // namespace relayctl
