// fleet: one relayctl command run against several relayd at once (issue #13).
//
// Targets come from --server a,b,c, from --fleet FILE (one HOST:PORT or unix:/path a line, '#'
// comments), and with --each-address from every address a name resolves to. The command runs
// against all of them in parallel, each with its own connection and the same credentials and
// deadline. People get one section per relay (`stats`: one row per relay and a total); scripts
// (--json) get one object per relay. The exit status is 0 only when every relay succeeded;
// otherwise it is the first failing relay's (in target order), and stderr names every relay that
// failed and why. Nothing is rolled back: `dest add` to a fleet reports where it was added and
// where it was not.
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "session.hpp"

namespace relayctl {

// Every target, in the order given, duplicates removed. Throws CommandError (usage) for a fleet
// file that cannot be read or holds no target, or a name --each-address cannot resolve.
std::vector<std::string> fleet_targets(const GlobalOptions& g);

// What one relay answered.
struct FleetOutcome {
  std::string server;
  int code = 0;                           // the command's exit status against this relay
  std::string output;                     // what it printed
  std::string error;                      // why it failed (empty when code is 0)
  std::optional<relay::v1::Stats> stats;  // `stats`: the snapshot, for the fleet table
};

// One relay's part of a fleet command: runs against `s`, may fill `o`'s stats.
using FleetRunner = std::function<int(Session& s, FleetOutcome& o)>;
FleetRunner fleet_runner(Runner command);  // any command: what it prints is kept as the output

// Runs `runner` against every target at once; returns the outcomes in target order.
std::vector<FleetOutcome> run_everywhere(const std::vector<std::string>& targets, const GlobalOptions& g,
                                         const FleetRunner& runner);

// `command` as the user typed it ("stats", "dest add"). Prints every outcome to `out` (for
// `stats` without --json: the fleet table), the failures to `err`; returns the exit status.
int report_fleet(std::string_view command, const std::vector<FleetOutcome>& outcomes, bool json, std::ostream& out,
                 std::ostream& err);

// `relayctl stats` against a fleet: GetStats from each relay, printed by report_fleet as one row
// per relay (received, sent, dropped, largest lag, destinations) and a total.
FleetRunner fleet_stats_runner();

}  // namespace relayctl
