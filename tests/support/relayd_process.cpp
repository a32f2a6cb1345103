#include "relayd_process.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>

#include "timeouts.hpp"

namespace relay::test {
namespace {

std::string join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s.append(" ").append(a);
  return s;
}

}  // namespace

std::string relayd_path() {
  if (const char* env = std::getenv("RELAYD")) return env;
  return RELAYD_PATH;
}

RelaydProcess::RelaydProcess(std::vector<std::string> args) {
  Pipe p = make_pipe();
  pid_ = spawn_program(relayd_path(), args, p.write_end.get(), p.write_end.get());
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
  return run_program(relayd_path(), args, timeout);
}

}  // namespace relay::test
