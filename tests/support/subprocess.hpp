// subprocess: starting a test program with its output captured, and running one to completion.
// Shared by RelaydProcess (long-running relayd) and RelayctlRunner (one relayctl call).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "unique_fd.hpp"

namespace relay::test {

struct RunResult {
  int exit_code = -1;  // 128+signal when killed by a signal
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Close-on-exec on both ends: the child gets its copy through dup2 (which clears the flag), and
// no other child (another relayd, a sink) inherits it and holds the pipe open past our child.
struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};
Pipe make_pipe();

// Starts `path args...` with stdin from /dev/null and stdout/stderr on the given fds. The
// environment is ours minus every variable named in `drop_env`.
pid_t spawn_program(const std::string& path, const std::vector<std::string>& args, int out_fd, int err_fd,
                    const std::vector<std::string>& drop_env = {});

// Exit code from a waitpid status: 128+signal when killed by a signal.
int decode_status(int status);

// Runs `path args...` to completion, capturing stdout and stderr; killed after `timeout` (scaled
// for sanitizer builds).
RunResult run_program(const std::string& path, const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                      const std::vector<std::string>& drop_env = {});

}  // namespace relay::test
