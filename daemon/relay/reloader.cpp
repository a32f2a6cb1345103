#include "reloader.hpp"

#include <spdlog/spdlog.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "command_line.hpp"

namespace relay {

Reloader::Reloader(Relay& relay, int argc, const char* const* argv, std::string config_file)
    : relay_(relay), args_(argv, argv + argc), config_file_(std::move(config_file)) {}

ReloadReport Reloader::reload() {
  const std::lock_guard lock(mu_);
  ReloadReport r;
  r.config_file = config_file_;
  if (config_file_.empty()) {
    spdlog::info("reload: relayd runs without --config, so there is no configuration to read again");
    return r;
  }
  std::vector<const char*> argv;
  for (const auto& a : args_) argv.push_back(a.c_str());
  Invocation next;
  try {
    next = read_configuration(static_cast<int>(argv.size()), argv.data());
  } catch (const UsageError& e) {
    r.errors = e.faults();
  } catch (const std::exception& e) {  // CommandLineExit cannot happen: argv parsed at start-up
    r.errors = {e.what()};
  }
  if (r.errors.empty()) {
    r.accepted = true;
    r.outcome = relay_.reload(next.config);
  }
  log(r);
  return r;
}

void Reloader::log(const ReloadReport& r) const {
  if (!r.accepted) {
    for (const auto& e : r.errors)
      spdlog::error("reload: {} rejected, the running configuration stays: {}", config_file_, e);
    return;
  }
  const ReloadPlan& p = r.outcome.plan;
  if (p.changes_nothing() && r.outcome.failed.empty())
    spdlog::info("reload: {}: no change to apply", config_file_);
  else
    spdlog::info("reload: {}: {} destination(s) removed, {} added, {} replaced; {} listener(s) removed, {} added{}{}",
                 config_file_, p.remove.size(), p.add.size(), p.replace.size(), r.outcome.listeners_removed.size(),
                 r.outcome.listeners_added.size(), p.applied.empty() ? "" : "; ", fmt::join(p.applied, ", "));
  for (const auto& f : r.outcome.failed) spdlog::error("reload: failed: {}", f);
  if (!p.restart.empty())
    spdlog::warn("reload: changed in {} but not applied until a restart: {}", config_file_, fmt::join(p.restart, ", "));
}

}  // namespace relay
