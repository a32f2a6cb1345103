// control_caller: what one gRPC call tells about its caller (peer, bearer token, verified client
// certificate, a unix-socket caller's uid), for the access policy and the audit log.
#pragma once

#include <string>

#include "access_policy.hpp"

namespace grpc {
class ServerContext;
}

namespace relay {

CallerFacts caller_facts(const grpc::ServerContext& context);

// "token:ops from ipv4:10.0.0.7:51234": who, for log lines.
std::string describe(const Identity& who, const CallerFacts& caller);

}  // namespace relay
