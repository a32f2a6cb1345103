// grpc_log: gRPC's own log lines through relayd's logger, limited, and watched for the one line
// that says gRPC stopped accepting connections.
//
// gRPC logs a failed TLS handshake at error level, one line per attempt, so any client with the
// wrong CA (or a port scanner) could fill the log; here each kind of line is let through at most
// once a second with a count of those held back. And gRPC 1.51 logs "Failed accept4" once when
// accept() fails (EMFILE) and then never accepts again: that line is counted, so the control
// server's watchdog can rebuild the server without probing it (a plaintext probe of a TLS port
// would itself be a failed handshake every second).
#pragma once

#include <cstdint>

namespace relay {

// Installs the bridge; idempotent. Call before the first gRPC object is made.
void route_grpc_logs();
// "Failed accept4" lines seen since start (any thread).
std::uint64_t grpc_accept_failures() noexcept;

}  // namespace relay
