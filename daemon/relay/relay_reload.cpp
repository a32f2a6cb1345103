// Relay::reload (relay.hpp): a re-read configuration applied to the running relay.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "relay.hpp"

namespace relay {

namespace {

std::vector<std::string> addresses(const std::vector<EffectiveDestination>& list) {
  std::vector<std::string> out;
  for (const auto& d : list) out.push_back(d.address);
  return out;
}

}  // namespace

ReloadOutcome Relay::reload(const Config& next) {
  // Held throughout, drains included: an API change made halfway would be judged against a
  // configuration that is neither the old one nor the new one.
  const std::lock_guard lock(changes_mu_);
  const std::vector<std::string> next_config = config_addresses(next);
  RuntimeState next_state = normalized(next_config, state_);
  ReloadOutcome out;
  out.plan = plan_reload(cfg_, addresses(effective_destinations(config_addresses_, state_)), next,
                         addresses(effective_destinations(next_config, next_state)));
  cfg_.drain_timeout = next.drain_timeout;  // first: the removals below drain by the new rule
  for (const auto& r : out.plan.replace) reload_replace(next, r, out);
  for (const auto& address : out.plan.remove) reload_remove(address, out);
  for (const auto& address : out.plan.add) reload_add(next, address, out);
  reload_listeners(next, out);
  if (next.log_level != cfg_.log_level) spdlog::set_level(spdlog::level::from_str(next.log_level));
  reload_timing(next, out);
  try {
    commit(std::move(next_state));  // the API's changes, restated against the new file
  } catch (const ApiError& e) {
    out.failed.push_back(std::string("state: ") + e.what());
  }
  config_addresses_ = next_config;
  cfg_.destinations = next.destinations;
  cfg_.log_level = next.log_level;
  return out;
}

ReloadReport Relay::reload_configuration() {
  if (!reload_) throw ApiError(ApiCode::failed_precondition, "relayd cannot reload here");
  ReloadReport r = reload_();
  if (r.config_file.empty())
    throw ApiError(ApiCode::failed_precondition,
                   "relayd runs without --config: there is no configuration to read again");
  if (!r.accepted)
    throw ApiError(ApiCode::failed_precondition, fmt::format("{} rejected, the running configuration stays: {}",
                                                             r.config_file, fmt::join(r.errors, "; ")));
  return r;
}

// After the destinations, so a listener can take the port of a destination the same reload
// removed; a listener that a remaining destination would reach is refused, as the destination
// would be the other way round.
void Relay::reload_listeners(const Config& next, ReloadOutcome& out) {
  const bool limits = next.ingest.max_connections != cfg_.ingest.max_connections ||
                      next.ingest.idle_timeout != cfg_.ingest.idle_timeout;
  if (out.plan.add_listeners.empty() && out.plan.remove_listeners.empty() && !limits) return;
  ListenerChange change;
  change.remove = out.plan.remove_listeners;
  change.grace = next.drain_timeout;
  if (limits) change.limits = next.ingest;
  for (const auto& text : out.plan.add_listeners) {
    const auto ep = std::ranges::find_if(next.listen, [&](const Endpoint& e) { return e.str() == text; });
    if (ep == next.listen.end()) continue;
    if (const auto dest = destination_reaching(*ep)) {
      out.failed.push_back(
          fmt::format("add {}: destination {} sends there: messages would come straight back (a loop)", text, *dest));
      continue;
    }
    change.add.push_back(*ep);
  }
  const ListenerChangeResult r = server_.change_listeners(std::move(change), std::chrono::seconds(10));
  for (const auto& bound : r.removed) own_.remove(bound);
  for (const auto& bound : r.added) own_listener(bound);
  out.listeners_added = r.added;
  out.listeners_removed = r.removed;
  out.failed.insert(out.failed.end(), r.failed.begin(), r.failed.end());
  cfg_.listen = server_.configured();
  cfg_.ingest.max_connections = next.ingest.max_connections;
  cfg_.ingest.idle_timeout = next.ingest.idle_timeout;
}

// Applied after the destination changes, so a destination the reload added starts with the old
// timing and takes the new one with the rest.
void Relay::reload_timing(const Config& next, ReloadOutcome& out) {
  const DestinationConfig& timing = next.client.destination;
  if (timing != cfg_.client.destination) {
    try {
      client_.set_destination_timing(timing);
      cfg_.client.destination = timing;
    } catch (const std::invalid_argument& e) {
      out.failed.push_back(fmt::format("delivery timing: {}", e.what()));
    }
  }
  if (next.background.stats_interval != cfg_.background.stats_interval) {
    try {
      background_.set_stats_interval(next.background.stats_interval);
      cfg_.background.stats_interval = next.background.stats_interval;
    } catch (const std::invalid_argument& e) {
      out.failed.push_back(fmt::format("log.stats_interval: {}", e.what()));
    }
  }
}

std::optional<std::string> Relay::destination_reaching(const Endpoint& listener) const {
  if (listener.transport != Transport::tcp || listener.port == 0) return std::nullopt;
  OwnAddresses would_be;
  would_be.add(listener);
  for (const auto& d : client_.snapshot()) {
    try {
      if (would_be.reached_by(parse_endpoint(d.address, true))) return d.address;
    } catch (const EndpointError&) {
      // It resolved when it was added; one that no longer does is not sending anywhere.
    }
  }
  return std::nullopt;
}

void Relay::reload_remove(const std::string& address, ReloadOutcome& out) {
  const auto all = client_.snapshot();
  const auto it = std::ranges::find_if(all, [&](const auto& d) { return d.address == address; });
  if (it == all.end()) return;  // already gone (a failed connection is still listed: not this)
  const auto drain = std::chrono::milliseconds(static_cast<long long>(cfg_.drain_timeout * 1000));
  const Deadline deadline = std::chrono::steady_clock::now() + drain + std::chrono::seconds(5);
  try {
    const DestinationSnapshot last = client_.remove(Removal{it->id, true, drain}, deadline);
    spdlog::info("reload: destination {} (id {}) removed; {} messages sent, {} still queued were dropped", address,
                 it->id, last.counters.sent_messages, last.counters.dropped_removed);
    const std::lock_guard o(origins_mu_);
    origins_.erase(it->id);
  } catch (const CommandError& e) {
    out.failed.push_back(fmt::format("remove {}: {}", address, e.what()));
  }
}

// A changed group: the new one at the old one's cursor (AddDestination's `replaces`).
void Relay::reload_replace(const Config& next, const ReloadPlan::Replacement& r, ReloadOutcome& out) {
  const auto all = client_.snapshot();
  const auto old = std::ranges::find_if(all, [&](const auto& d) { return d.address == r.from; });
  const auto ep = std::ranges::find_if(next.destinations, [&](const Endpoint& e) { return e.str() == r.to; });
  if (old == all.end() || ep == next.destinations.end()) return reload_add(next, r.to, out);
  try {
    refuse_own_address(*ep);
    const Deadline deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    const DestinationSnapshot added = swap_in(*ep, *old, deadline);
    set_origin(added.id, Origin::config);
    spdlog::info("reload: destination {} (id {}) replaced by {} (id {}) at message {}", r.from, old->id, added.address,
                 added.id, added.cursor);
  } catch (const ApiError& e) {
    out.failed.push_back(fmt::format("replace {} with {}: {}", r.from, r.to, e.what()));
  } catch (const CommandError& e) {
    out.failed.push_back(fmt::format("replace {} with {}: {}", r.from, r.to, e.what()));
  }
}

void Relay::reload_add(const Config& next, const std::string& address, ReloadOutcome& out) {
  const auto ep = std::ranges::find_if(next.destinations, [&](const Endpoint& e) { return e.str() == address; });
  if (ep == next.destinations.end()) return;  // an API-added one the new file does not change
  try {
    refuse_own_address(*ep);
    const Deadline deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    const DestinationSnapshot added = client_.add(*ep, StartAt::tail, deadline);
    set_origin(added.id, Origin::config);
    spdlog::info("reload: destination {} added (id {})", added.address, added.id);
  } catch (const ApiError& e) {
    out.failed.push_back(fmt::format("add {}: {}", address, e.what()));
  } catch (const CommandError& e) {
    out.failed.push_back(fmt::format("add {}: {}", address, e.what()));
  }
}

}  // namespace relay
