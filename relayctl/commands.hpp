// commands: relayctl's command table. Each entry declares one command's arguments and returns
// the function that runs it; main builds the CLI from the table and runs the one selected.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <span>
#include <string_view>

#include "session.hpp"

namespace relayctl {

// Runs a parsed command; returns the exit code or throws CommandError.
using Runner = std::function<int(Session&)>;

struct CommandSpec {
  std::string_view group;  // parent command ("dest"), empty for a top-level one
  std::string_view name;
  std::string_view help;
  // Declares the command's options on `cmd`; the returned runner reads them once parsed.
  Runner (*define)(CLI::App& cmd);
};

std::span<const CommandSpec> command_table();

// Help text of the command groups (the parents named in CommandSpec::group).
std::string_view group_help(std::string_view group);

}  // namespace relayctl
