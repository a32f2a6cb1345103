// duration: relayctl's DUR arguments ("500ms", "2s", "1m", "1h"; a plain number is seconds).
#pragma once

#include <google/protobuf/duration.pb.h>

#include <chrono>
#include <string>
#include <string_view>

namespace relayctl {

// Throws std::invalid_argument with a one-line reason on anything else, or a negative value.
std::chrono::milliseconds parse_duration(std::string_view text);

// For requests: `d` as a google.protobuf.Duration.
void set_duration(google::protobuf::Duration& out, std::chrono::milliseconds d);

// CLI11 check: empty when `text` parses, else the reason.
std::string duration_error(const std::string& text);

}  // namespace relayctl
