// status_code_name: the canonical name of a gRPC status code ("NOT_FOUND"), as relayd logs it
// and relayctl prints it. gRPC's C++ API has no public function for this.
#pragma once

#include <grpcpp/support/status.h>

#include <string_view>

namespace relay {

std::string_view status_code_name(grpc::StatusCode code) noexcept;

}  // namespace relay
