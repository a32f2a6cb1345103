#include "relayctl_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <system_error>

#include "timeouts.hpp"
#include "unique_fd.hpp"

extern char** environ;

namespace relay::test {
namespace {

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Reads both pipes until EOF on both; false when `deadline` passes first.
bool drain(int out_fd, int err_fd, std::string& out, std::string& err, Clock::time_point deadline) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&out, &err};
  int open = 2;
  while (open > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    if (::poll(fds, 2, static_cast<int>(left)) < 0 && errno != EINTR) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open;
      }
    }
  }
  return true;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

RunResult RelayctlRunner::run(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const {
  std::vector<std::string> full;
  if (!server_.empty()) full = {"--server", server_};
  full.insert(full.end(), args.begin(), args.end());
  return run_raw(full, timeout);
}

RunResult RelayctlRunner::run_raw(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path_.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "RELAYCTL_SERVER=", 16) != 0) envp.push_back(*e);
  }
  envp.push_back(nullptr);

  Pipe out = make_pipe();
  Pipe err = make_pipe();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out.write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, err.write_end.get(), STDERR_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, path_.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn " + path_);
  out.write_end.reset();
  err.write_end.reset();

  RunResult r;
  r.timed_out = !drain(out.read_end.get(), err.read_end.get(), r.out, r.err, Clock::now() + scaled(timeout));
  if (r.timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = decode_status(status);
  return r;
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
