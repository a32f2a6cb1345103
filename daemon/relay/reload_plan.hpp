// reload_plan: what a re-read configuration changes against the running one (docs/CONFIG.md,
// "Reload"). Pure: computing a plan touches nothing, so a bad or partly applicable file can be
// judged whole before anything changes.
//
// Destinations are compared by peer (runtime_state.hpp's peer_key): a peer only the new file
// lists is added at the tail; a peer only the old one lists is removed, drained first; a peer
// both list with other options (framing, TLS files) is removed, drained, and added again in its
// new form — except a destination group (hash@, any@, failover@) the new file changes: it is paired
// with the removed group of the same kind that shares the most members with it (at least one), and
// replaces it at its cursor, so changing a group's members loses nothing. Listeners are compared by their configured
// text: one only the new file lists is bound, one only the old lists is retired (read dry; a TCP one's open connections
// are read until they end, go quiet, or the drain timeout passes), one whose options changed is both. The log level and
// the connection limits (ingest.max_connections, ingest.idle_timeout) change in place, and so may the settings `live`
// names (those the running relay can change); any other difference is reported as needing a restart and left as it
// runs.
#pragma once

#include <string>
#include <vector>

#include "relay_config.hpp"

namespace relay {

struct ReloadPlan {
  std::vector<std::string> remove;  // canonical addresses, drained before they go
  std::vector<std::string> add;     // canonical addresses, added at the tail after the removals
  // A destination group whose members or options changed, paired with the one it follows: the
  // new group takes over at the old one's cursor (no message lost), the old one goes.
  struct Replacement {
    std::string from, to;
  };
  std::vector<Replacement> replace;
  std::vector<std::string> applied;           // settings changed in place: "log.level: info -> debug"
  std::vector<std::string> restart;           // settings that differ but wait for a restart: "queue.max_bytes"
  std::vector<std::string> remove_listeners;  // configured addresses, retired after the additions
  std::vector<std::string> add_listeners;     // configured addresses, bound before the removals

  bool changes_nothing() const noexcept {
    return remove.empty() && add.empty() && replace.empty() && applied.empty() && remove_listeners.empty() &&
           add_listeners.empty();
  }
};

// A plan as carried out: each step that failed, "remove ADDRESS: why" or "add ADDRESS: why".
struct ReloadOutcome {
  ReloadPlan plan;
  std::vector<std::string> failed;
  std::vector<std::string> listeners_added;    // as bound (the real port of a ":0" one)
  std::vector<std::string> listeners_removed;  // as they were bound
};

// What a reload request got: the file's faults (rejected whole), or the plan as carried out.
struct ReloadReport {
  std::string config_file;  // empty: relayd runs without --config (nothing was read)
  bool accepted = false;
  std::vector<std::string> errors;  // the file's faults when it was rejected
  ReloadOutcome outcome;            // when accepted
};

// `running` and `next`: the destinations each configuration gives (effective_destinations), as
// canonical addresses, in order; the rest of the configurations for their settings.
ReloadPlan plan_reload(const Config& running_cfg, const std::vector<std::string>& running, const Config& next_cfg,
                       const std::vector<std::string>& next);

}  // namespace relay
