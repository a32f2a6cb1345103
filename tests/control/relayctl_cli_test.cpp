// relayctl_cli_test: the relayctl binary against a ControlServer over a FakeRelayApi — output,
// JSON, exit codes, watch mode and Ctrl-C.
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "control_fixture.hpp"

extern char** environ;

namespace relay::test {
namespace {

namespace pb = relay::v1;
using namespace std::chrono_literals;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs relayctl with `args`, stdout and stderr captured to files; `during` runs while it does.
class Relayctl {
 public:
  Relayctl() : dir_(std::filesystem::temp_directory_path() / ("relayctl_cli_test." + std::to_string(getpid()))) {
    std::filesystem::create_directories(dir_);
  }
  ~Relayctl() { std::filesystem::remove_all(dir_); }

  pid_t spawn(std::vector<std::string> args) {
    args.insert(args.begin(), RELAYCTL_PATH);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, (dir_ / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, (dir_ / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = -1;
    EXPECT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
  }

  Result wait(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(dir_ / "out"), slurp(dir_ / "err")};
  }

  Result run(std::vector<std::string> args) { return wait(spawn(std::move(args))); }

 private:
  std::filesystem::path dir_;
};

class RelayctlCliTest : public ControlFixture {
 protected:
  Result run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", target_});
    return relayctl_.run(std::move(args));
  }
  Relayctl relayctl_;
};

TEST_F(RelayctlCliTest, AddPrintsTheNewDestination) {
  const auto r = run({"dest", "add", "127.0.0.1:9000", "--framing", "line", "--start", "head"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "destination 1 added: tcp@127.0.0.1:9000?framing=line (line, connecting)\n");
  EXPECT_EQ(api_.last_add()->start, StartAt::head);
}

TEST_F(RelayctlCliTest, RefusalIsExitOneWithTheStatusCode) {
  run({"dest", "add", "tcp@127.0.0.1:9000"});
  const auto r = run({"dest", "add", "tcp@127.0.0.1:9000"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.err.starts_with("relayctl: ALREADY_EXISTS: ")) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(RelayctlCliTest, ListAsJsonParsesBack) {
  run({"dest", "add", "tcp@127.0.0.1:9000"});
  run({"dest", "add", "tcp@127.0.0.1:9001"});
  const auto r = run({"dest", "ls", "--json"});  // global option after the command
  ASSERT_EQ(r.exit_code, 0) << r.err;
  pb::ListDestinationsResponse list;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &list).ok()) << r.out;
  ASSERT_EQ(list.destinations_size(), 2);
  EXPECT_EQ(list.destinations(1).address(), "tcp@127.0.0.1:9001");
}

TEST_F(RelayctlCliTest, ListAsTable) {
  EXPECT_EQ(run({"dest", "ls"}).out, "no destinations\n");
  run({"dest", "add", "tcp@127.0.0.1:9000"});
  const auto r = run({"dest", "ls"});
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("^ID  ADDRESS +FRAMING +STATE +ORIGIN +CURSOR +LAG_MESSAGES +LAG_SECONDS +SENT_MESSAGES ")))
      << r.out;
  EXPECT_NE(r.out.find("tcp@127.0.0.1:9000"), std::string::npos) << r.out;
}

TEST_F(RelayctlCliTest, GetShowsEveryCounter) {
  run({"dest", "add", "tcp@127.0.0.1:9000"});
  const auto r = run({"dest", "get", "tcp@127.0.0.1:9000"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("resent_partial"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sent_bytes"), std::string::npos) << r.out;
}

TEST_F(RelayctlCliTest, RemoveWithDrain) {
  run({"dest", "add", "tcp@127.0.0.1:9000"});
  const auto r = run({"dest", "rm", "127.0.0.1:9000", "--drain", "--drain-timeout", "2s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("destination 1 removed: tcp@127.0.0.1:9000")) << r.out;
  const auto seen = api_.last_remove();
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->drain);
  EXPECT_EQ(seen->drain_timeout, 2000ms);
}

TEST_F(RelayctlCliTest, RemoveUnknownIdIsNotFound) {
  const auto r = run({"dest", "rm", "99"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "relayctl: NOT_FOUND: no destination id 99\n");
}

TEST_F(RelayctlCliTest, InfoAndHealth) {
  auto r = run({"info"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("9.8.7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max_queue_bytes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("256.0 MiB"), std::string::npos) << r.out;
  r = run({"health"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
  r = run({"health", "--json"});
  EXPECT_EQ(r.out, "{\"status\":\"SERVING\"}\n");
}

TEST_F(RelayctlCliTest, StatsTotals) {
  const auto r = run({"stats"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\nqueue\nTAIL  HEAD  RECLAIM_POINT"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("MAX_QUEUE_BYTES"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("msg/s"), std::string::npos) << r.out;  // rates only in watch mode
}

TEST_F(RelayctlCliTest, WatchWithCountShowsRates) {
  run({"dest", "add", "tcp@127.0.0.1:9000"});
  const auto r = run({"stats", "--watch", "--interval", "100ms", "--count", "3"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("msg/s"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos);  // not a tty: no screen clearing
}

TEST_F(RelayctlCliTest, WatchJsonIsOneObjectPerLine) {
  const auto r = run({"--json", "stats", "--watch", "-i", "100ms", "-n", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    pb::Stats s;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &s).ok()) << line;
    ++n;
  }
  EXPECT_EQ(n, 2);
}

TEST_F(RelayctlCliTest, CtrlCStopsWatchCleanly) {
  const pid_t pid = relayctl_.spawn({"--server", target_, "stats", "--watch", "--interval", "100ms"});
  std::this_thread::sleep_for(500ms);
  kill(pid, SIGINT);
  const auto start = std::chrono::steady_clock::now();
  const auto r = relayctl_.wait(pid);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("RECLAIM_POINT"), std::string::npos) << r.out;
}

TEST_F(RelayctlCliTest, ServerShutdownEndsWatchAsUnreachable) {
  const pid_t pid = relayctl_.spawn({"--server", target_, "stats", "--watch"});
  std::this_thread::sleep_for(300ms);
  server_->shutdown();
  const auto r = relayctl_.wait(pid);
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST(RelayctlCli, UnreachableIsExitThree) {
  Relayctl relayctl;
  const auto r = relayctl.run({"--server", "127.0.0.1:1", "--timeout", "2s", "info"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(r.err.starts_with("relayctl: cannot reach relayd at 127.0.0.1:1: ")) << r.err;
}

TEST_F(RelayctlCliTest, ServerFromTheEnvironment) {
  setenv("RELAYCTL_SERVER", target_.c_str(), 1);
  const auto r = relayctl_.run({"info"});
  unsetenv("RELAYCTL_SERVER");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// A usage error is one short line naming relayctl, never an abort or a screenful of digits.
void expect_one_line_usage_error(const Result& r, const std::vector<std::string>& args) {
  EXPECT_TRUE(r.err.starts_with("relayctl: ")) << ::testing::PrintToString(args) << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << ::testing::PrintToString(args) << ": " << r.err;
  EXPECT_LT(r.err.size(), 200u) << ::testing::PrintToString(args) << ": " << r.err;
  EXPECT_EQ(r.out, "") << ::testing::PrintToString(args);
}

TEST(RelayctlCli, OutOfRangeNumbersAreUsageErrors) {
  Relayctl relayctl;
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"dest", "rm", "99999999999999999999"},
                                             {"dest", "get", "18446744073709551616"},
                                             {"stats", "--watch", "--count", "0"},
                                             {"stats", "--watch", "--count", "-1"},
                                             {"stats", "--watch", "--count", "99999999999999999999"},
                                             {"stats", "--watch", "--count", "1.5"},
                                             {"--timeout", "1e400", "info"},
                                             {"dest", "rm", "1", "--drain", "--drain-timeout", "-1s"}}) {
    const auto r = relayctl.run(args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << ": " << r.err;
    expect_one_line_usage_error(r, args);
  }
}

TEST_F(RelayctlCliTest, LargestIdIsAnId) {
  const auto r = run({"dest", "rm", "18446744073709551615"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "relayctl: NOT_FOUND: no destination id 18446744073709551615\n");
}

TEST(RelayctlCli, UsageErrorsAreExitTwo) {
  Relayctl relayctl;
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{{},
                                                                             {"dest"},
                                                                             {"dest", "add"},
                                                                             {"dest", "add", "x", "--framing", "zip"},
                                                                             {"--timeout", "soon", "info"},
                                                                             {"stats", "--interval", "1s"},
                                                                             {"stats", "--watch", "--interval", "50ms"},
                                                                             {"frobnicate"}}) {
    const auto r = relayctl.run(args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args);
    expect_one_line_usage_error(r, args);
  }
  const auto help = relayctl.run({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Exit codes:"), std::string::npos);
}

}  // namespace
}  // namespace relay::test
