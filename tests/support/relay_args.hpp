// relay_args: relayd command lines for the e2e tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "framing.hpp"

namespace relay::test {

// "tcp@127.0.0.1:PORT" plus "?framing=F" unless `explicit_default` is false and F is lp32le.
std::string destination(std::uint16_t port, Framing framing = Framing::lp32le, bool explicit_default = false);

// Options every data-path test wants: no gRPC port, no periodic stats (the exit report is
// parsed), fast reconnects so restarts are observed within a test's budget, info logs.
std::vector<std::string> data_path_options();

// data_path_options() + `extra` + listen + destinations.
std::vector<std::string> relayd_args(const std::string& listen, const std::vector<std::string>& destinations,
                                     std::initializer_list<std::string> extra = {});

}  // namespace relay::test
