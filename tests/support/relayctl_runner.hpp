// relayctl_runner: runs the real relayctl binary for end-to-end control tests.
//
// The child's environment is the test's minus RELAYCTL_SERVER, so only the command line says
// which relayd it talks to. stdout and stderr are captured separately; a run that outlives its
// (scaled) timeout is killed and reported as timed out.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "relayd_process.hpp"  // RunResult

namespace relay::test {

class RelayctlRunner {
 public:
  // `path`: the relayctl binary; `server`: prepended as --server unless empty.
  RelayctlRunner(std::string path, std::string server) : path_(std::move(path)), server_(std::move(server)) {}

  // relayctl [--server SERVER] ARGS...; waits up to `timeout` (scaled).
  RunResult run(const std::vector<std::string>& args,
                std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  // Same, without --server (the caller decides everything).
  RunResult run_raw(const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

  const std::string& server() const noexcept { return server_; }

 private:
  std::string path_;
  std::string server_;
};

// The gRPC control port relayd logged ("control: listening on HOST:0 (port N)"), waiting up to
// `timeout` (scaled) for the line; 0 when it never came. Start relayd with `--control
// 127.0.0.1:0` so the kernel picks a free port: no window in which another process can take it.
std::uint16_t control_port(RelaydProcess& relayd, std::chrono::milliseconds timeout = std::chrono::seconds(15));

// "exit=N timed_out=B\nstdout: ...\nstderr: ..." for failure messages.
std::string describe(const RunResult& r);

}  // namespace relay::test
