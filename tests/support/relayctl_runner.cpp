#include "relayctl_runner.hpp"

#include <regex>

namespace relay::test {

RunResult RelayctlRunner::run(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const {
  std::vector<std::string> full;
  if (!server_.empty()) full = {"--server", server_};
  full.insert(full.end(), args.begin(), args.end());
  return run_raw(full, timeout);
}

RunResult RelayctlRunner::run_raw(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const {
  // Without RELAYCTL_SERVER from the caller's environment: tests name the server themselves.
  return run_program(path_, args, timeout, {"RELAYCTL_SERVER"});
}

std::uint16_t control_port(RelaydProcess& relayd, std::chrono::milliseconds timeout) {
  const auto line = relayd.wait_for_line(R"(control: listening on \S+ \(port \d+\))", timeout);
  if (!line) return 0;
  static const std::regex re(R"(\(port (\d+)\))");
  std::smatch m;
  if (!std::regex_search(*line, m, re)) return 0;
  return static_cast<std::uint16_t>(std::stoul(m[1].str()));
}

std::string describe(const RunResult& r) {
  return "exit=" + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") + "\nstdout: " + r.out +
         "\nstderr: " + r.err;
}

}  // namespace relay::test
