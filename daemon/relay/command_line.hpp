// command_line: relayd's command line (CLI11) and config file (config_file.hpp, --config) read
// into a Config. Main thread, at start-up; read_configuration() again on a reload.
#pragma once

#include <string>

#include "relay_config.hpp"
#include "usage_error.hpp"

namespace relay {

// Thrown when the command line asks relayd to exit instead of run: --help, --version (code 0)
// or a usage error (code 2). `out` and `err` are what to print (already printed when thrown by
// parse_invocation or parse_command_line).
struct CommandLineExit {
  int code;
  std::string out = {};
  std::string err = {};
};

struct Invocation {
  Config config;
  bool check_only = false;  // --check-config FILE: validate, print a summary, start nothing
};

// The config file named by --config (or --check-config), with the command line over it: a
// flag given on the command line wins over the file's key; listeners or destinations given on
// the command line replace the file's whole list. Prints nothing, binds nothing, starts nothing;
// it reads files (the config file, the certificates of tls@ destinations) and resolves names,
// so a reload can call it again with the same argv. Throws UsageError (every fault found, each
// naming FILE:LINE:COLUMN and key, or the flag) or CommandLineExit (--help, --version).
Invocation read_configuration(int argc, const char* const* argv);

// read_configuration() for main: prints help, version or the errors ("relayd: " before each
// line) itself. Throws CommandLineExit.
Invocation parse_invocation(int argc, const char* const* argv);

// parse_invocation(...).config.
Config parse_command_line(int argc, const char* const* argv);

}  // namespace relay
