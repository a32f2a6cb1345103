#include "grpc_log.hpp"

#include <grpc/support/log.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <string_view>

#include "clock.hpp"
#include "log_limiter.hpp"
#include "printable.hpp"

namespace relay {

namespace {

// Counted, never used to order anything else: relaxed is enough.
std::atomic<std::uint64_t> accept_failures{0};

enum Kind { kHandshake, kAccept, kOther, kKinds };

Kind kind_of(std::string_view message) {
  if (message.find("Failed accept4") != std::string_view::npos) return kAccept;
  if (message.find("andshake") != std::string_view::npos) return kHandshake;
  return kOther;
}

spdlog::level::level_enum level_of(gpr_log_severity severity) {
  switch (severity) {
    case GPR_LOG_SEVERITY_DEBUG: return spdlog::level::debug;
    case GPR_LOG_SEVERITY_INFO: return spdlog::level::info;
    case GPR_LOG_SEVERITY_ERROR: break;
  }
  return spdlog::level::warn;  // gRPC's errors are about one connection or call, not relayd
}

// gRPC calls this from any of its threads; the limiters are shared, hence the mutex (control
// plane only, never the data path).
void log_line(gpr_log_func_args* args) {
  const std::string_view message = args->message ? args->message : "";
  const Kind kind = kind_of(message);
  if (kind == kAccept) accept_failures.fetch_add(1, std::memory_order_relaxed);
  static std::mutex mu;
  static LogLimiter limiters[kKinds];
  std::uint64_t held = 0;
  {
    std::lock_guard lock(mu);
    if (!limiters[kind].allow(steady_ns())) return;
    held = limiters[kind].suppressed();
  }
  const std::string text = printable(message, 400);
  if (held > 0)
    spdlog::log(level_of(args->severity), "grpc: {} ({} similar lines held back)", text, held);
  else
    spdlog::log(level_of(args->severity), "grpc: {}", text);
}

}  // namespace

void route_grpc_logs() {
  static std::once_flag once;
  std::call_once(once, [] { gpr_set_log_function(log_line); });
}

std::uint64_t grpc_accept_failures() noexcept { return accept_failures.load(std::memory_order_relaxed); }

}  // namespace relay
