// command_line: relayd's command line, parsed with CLI11 into a Config. Main thread, at start-up.
#pragma once

#include "relay_config.hpp"

namespace relay {

// Thrown when the command line asks relayd to exit instead of run: --help, --version (code 0)
// or a usage error (code 2, message already printed).
struct CommandLineExit {
  int code;
};

// Parses argv; prints help, version or a one-line error itself. Throws CommandLineExit.
Config parse_command_line(int argc, const char* const* argv);

}  // namespace relay
