// certs_command: the `relayd certs ...` command line (a tool, not the daemon).
#pragma once

namespace relay::certs {

// argv[0] is "certs". Returns the process exit code: 0, 1 when the work failed, 2 for a usage
// error.
int run_certs_command(int argc, char** argv);

}  // namespace relay::certs
