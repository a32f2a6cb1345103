#include "reload_plan.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "runtime_state.hpp"

namespace relay {

namespace {

const std::string* same_peer(const std::vector<std::string>& list, const std::string& address) {
  const std::string key = peer_key(address);
  const auto it = std::ranges::find_if(list, [&](const std::string& a) { return peer_key(a) == key; });
  return it == list.end() ? nullptr : &*it;
}

std::vector<std::string> texts(const std::vector<Endpoint>& list) {
  std::vector<std::string> out;
  for (const auto& ep : list) out.push_back(ep.str());
  return out;
}

// The settings a reload does not change, by the config file's key names: each differing one is
// named in the plan so the operator knows the file and the process disagree until a restart.
void compare_restart_settings(const Config& a, const Config& b, std::vector<std::string>& out) {
  const auto differ = [&](bool d, const char* key) {
    if (d) out.push_back(key);
  };
  differ(a.queue.max_queue_bytes != b.queue.max_queue_bytes, "queue.max_bytes");
  differ(a.ingest.max_message != b.ingest.max_message, "queue.max_message_size");
  differ(a.queue.data_dir != b.queue.data_dir, "queue.data_dir");
  differ(a.queue.max_disk_bytes != b.queue.max_disk_bytes, "queue.max_disk_bytes");
  differ(a.queue.fsync != b.queue.fsync, "queue.fsync");
  differ(a.background.sync_interval != b.background.sync_interval, "queue.sync_interval");
  differ(a.ingest.rcvbuf != b.ingest.rcvbuf, "ingest.rcvbuf");
  differ(a.ingest.batch != b.ingest.batch, "ingest.batch");
  differ(a.ingest.coalesce_seconds != b.ingest.coalesce_seconds, "ingest.coalesce_us");
  differ(a.ingest.udp_gro != b.ingest.udp_gro, "ingest.udp_gro");
  differ(a.client.max_destinations != b.client.max_destinations, "delivery.max_destinations");
  differ(a.control != b.control, "control.address");
  const ControlOptions &x = a.control_options, &y = b.control_options;
  // The control plane's certificate, key and token *files* are re-read on every SIGHUP anyway;
  // pointing at other files needs a restart.
  differ(x.tls_cert != y.tls_cert || x.tls_key != y.tls_key || x.tls_client_ca != y.tls_client_ca, "control.tls_*");
  differ(x.token_file != y.token_file, "control.token_file");
  differ(x.insecure != y.insecure, "control.insecure");
  differ(x.socket_mode != y.socket_mode || x.socket_group != y.socket_group, "control.socket_*");
  differ(a.metrics != b.metrics, "metrics.address");
  differ(a.state_dir != b.state_dir, "state.dir");
}

// "hash@A,B?o" -> {"hash", {"A", "B"}}; an address that is not a group has no members.
std::pair<std::string, std::vector<std::string>> group_members(const std::string& address) {
  const std::string scheme = address.substr(0, address.find('@'));
  if (scheme != "hash" && scheme != "any" && scheme != "failover") return {};
  std::vector<std::string> members;
  const std::string list = address.substr(scheme.size() + 1, address.find('?') - scheme.size() - 1);
  for (std::size_t at = 0; at <= list.size();) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    members.push_back(list.substr(at, comma - at));
    at = comma + 1;
  }
  return {scheme, members};
}

// Each added group takes over from the removed group of its kind it shares the most members with.
void pair_groups(ReloadPlan& plan) {
  for (auto added = plan.add.begin(); added != plan.add.end();) {
    // Not structured bindings: clang 14 (the fuzz preset) cannot capture those in a lambda.
    const auto next_group = group_members(*added);
    const std::string& scheme = next_group.first;
    auto best = plan.remove.end();
    std::size_t best_shared = 0;
    for (auto removed = plan.remove.begin(); removed != plan.remove.end(); ++removed) {
      const auto old_group = group_members(*removed);
      if (scheme.empty() || old_group.first != scheme) continue;
      const auto shared = static_cast<std::size_t>(std::ranges::count_if(
          next_group.second, [&](const auto& m) { return std::ranges::count(old_group.second, m) > 0; }));
      if (shared > best_shared) best = removed, best_shared = shared;
    }
    if (best == plan.remove.end()) {
      ++added;
      continue;
    }
    plan.replace.push_back({*best, *added});
    plan.remove.erase(best);
    added = plan.add.erase(added);
  }
}

}  // namespace

ReloadPlan plan_reload(const Config& running_cfg, const std::vector<std::string>& running, const Config& next_cfg,
                       const std::vector<std::string>& next) {
  ReloadPlan plan;
  for (const auto& r : running) {
    const std::string* n = same_peer(next, r);
    if (n == nullptr || *n != r) plan.remove.push_back(r);
  }
  for (const auto& n : next) {
    const std::string* r = same_peer(running, n);
    if (r == nullptr || *r != n) plan.add.push_back(n);
  }
  pair_groups(plan);
  const std::vector<std::string> listening = texts(running_cfg.listen), listen = texts(next_cfg.listen);
  for (const auto& l : listening) {
    if (std::ranges::count(listen, l) == 0) plan.remove_listeners.push_back(l);
  }
  for (const auto& l : listen) {
    if (std::ranges::count(listening, l) == 0) plan.add_listeners.push_back(l);
  }
  const auto applied = [&](bool differs, const char* key, const auto& from, const auto& to) {
    if (differs) plan.applied.push_back(fmt::format("{}: {} -> {}", key, from, to));
  };
  applied(running_cfg.log_level != next_cfg.log_level, "log.level", running_cfg.log_level, next_cfg.log_level);
  applied(running_cfg.ingest.max_connections != next_cfg.ingest.max_connections, "ingest.max_connections",
          running_cfg.ingest.max_connections, next_cfg.ingest.max_connections);
  applied(running_cfg.ingest.idle_timeout != next_cfg.ingest.idle_timeout, "ingest.idle_timeout",
          running_cfg.ingest.idle_timeout, next_cfg.ingest.idle_timeout);
  const DestinationConfig &was = running_cfg.client.destination, &will = next_cfg.client.destination;
  applied(was.reconnect_min != will.reconnect_min, "delivery.reconnect_min", was.reconnect_min, will.reconnect_min);
  applied(was.reconnect_max != will.reconnect_max, "delivery.reconnect_max", was.reconnect_max, will.reconnect_max);
  applied(was.connect_timeout != will.connect_timeout, "delivery.connect_timeout", was.connect_timeout,
          will.connect_timeout);
  applied(running_cfg.drain_timeout != next_cfg.drain_timeout, "delivery.drain_timeout", running_cfg.drain_timeout,
          next_cfg.drain_timeout);
  applied(running_cfg.background.stats_interval != next_cfg.background.stats_interval, "log.stats_interval",
          running_cfg.background.stats_interval, next_cfg.background.stats_interval);
  compare_restart_settings(running_cfg, next_cfg, plan.restart);
  return plan;
}

}  // namespace relay
