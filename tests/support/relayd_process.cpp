#include "relayd_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "timeouts.hpp"

extern char** environ;

namespace relay::test {
namespace {

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

// Close-on-exec on both ends: the child gets its copy through dup2 (which clears the flag), and
// no other child (another relayd, a sink) inherits it and holds the pipe open past our child.
Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

pid_t spawn(const std::vector<std::string>& args, int out_fd, int err_fd) {
  const std::string path = relayd_path();
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn " + path);
  return pid;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s.append(" ").append(a);
  return s;
}

// Reads both pipes until EOF on both or the deadline; returns false on timeout.
bool drain_pipes(int out_fd, int err_fd, std::string& out, std::string& err, Clock::time_point deadline) {
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
      if (n > 0) sinks[i]->append(buf, static_cast<std::size_t>(n));
      else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open;
      }
    }
  }
  return true;
}

}  // namespace

std::string relayd_path() {
  if (const char* env = std::getenv("RELAYD")) return env;
  return RELAYD_PATH;
}

RelaydProcess::RelaydProcess(std::vector<std::string> args) {
  Pipe p = make_pipe();
  pid_ = spawn(args, p.write_end.get(), p.write_end.get());
  p.write_end.reset();  // only the child holds the write end now: EOF means it is gone
  const bool verbose = std::getenv("RELAY_TEST_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "[relayd %d]%s\n", static_cast<int>(pid_), join(args).c_str());
  log_ = std::make_unique<LogCapture>(std::move(p.read_end), verbose, "[relayd] ");
}

RelaydProcess::~RelaydProcess() {
  // After a failure, ask politely first: the exit stats in the printed log explain most failures.
  if (::testing::Test::HasFailure() && running()) {
    ::kill(pid_, SIGTERM);
    wait_until([&] { return !running(); }, std::chrono::seconds(8));
  }
  if (!exited_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
  }
  log_->wait_closed(std::chrono::seconds(5));
  if (::testing::Test::HasFailure() && std::getenv("RELAY_TEST_VERBOSE") == nullptr)
    std::fprintf(stderr, "---- relayd log (pid %d) ----\n%s---- end of relayd log ----\n", static_cast<int>(pid_),
                 log_->text().c_str());
}

bool RelaydProcess::wait_ready(std::chrono::milliseconds timeout) {
  if (wait_for_line(R"(relayd ready)", timeout)) return true;
  ADD_FAILURE() << "relayd did not log 'relayd ready' within " << scaled(timeout).count() << " ms"
                << (running() ? "" : " (it exited with code " + std::to_string(exit_code_) + ")");
  return false;
}

std::optional<std::string> RelaydProcess::wait_for_line(const std::string& regex, std::chrono::milliseconds timeout,
                                                        std::size_t from) {
  return log_->wait_for_line(std::regex(regex), timeout, from);
}

std::uint16_t RelaydProcess::listen_port(std::size_t index) const {
  static const std::regex re(R"(listening on (udp|tcp)@(\S+):(\d+))");
  std::size_t seen = 0;
  for (const auto& line : log_->lines()) {
    std::smatch m;
    if (!std::regex_search(line, m, re)) continue;
    if (seen++ == index) return static_cast<std::uint16_t>(std::stoul(m[3].str()));
  }
  return 0;
}

void RelaydProcess::signal(int sig) {
  if (!exited_) ::kill(pid_, sig);
}

void RelaydProcess::reap(int status) {
  exited_ = true;
  exit_code_ = decode_status(status);
}

bool RelaydProcess::running() {
  if (exited_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) reap(status);
  return !exited_;
}

int RelaydProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (wait_until([&] { return !running(); }, timeout)) {
    log_->wait_closed(std::chrono::seconds(5));  // so the exit stats are all captured
    return exit_code_;
  }
  ADD_FAILURE() << "relayd did not exit within " << scaled(timeout).count() << " ms; killed";
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  exited_ = true;
  exit_code_ = -1;
  return -1;
}

RunResult RelaydProcess::run_to_completion(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  const pid_t pid = spawn(args, out.write_end.get(), err.write_end.get());
  out.write_end.reset();
  err.write_end.reset();
  RunResult r;
  r.timed_out = !drain_pipes(out.read_end.get(), err.read_end.get(), r.out, r.err, Clock::now() + scaled(timeout));
  if (r.timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = decode_status(status);
  return r;
}

}  // namespace relay::test
