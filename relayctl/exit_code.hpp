// exit_code: relayctl's exit statuses, a contract for scripts (also in --help and docs/CONTROL.md).
#pragma once

namespace relayctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitRefused = 1,      // relayd answered with an error status (or health is not SERVING)
  kExitUsage = 2,        // the command line did not parse
  kExitUnreachable = 3,  // relayd could not be reached (UNAVAILABLE, deadline before connecting, TLS failed)
  kExitDenied = 4,       // relayd refused the caller (UNAUTHENTICATED, PERMISSION_DENIED)
};

inline constexpr const char* kExitCodesHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  relayd refused the request (stderr: relayctl: STATUS_CODE: message)\n"
    "  2  usage error\n"
    "  3  relayd could not be reached (or the TLS handshake failed)\n"
    "  4  relayd refused the caller: no or unknown credentials, or the read role asked for a change";

}  // namespace relayctl
