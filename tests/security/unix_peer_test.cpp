// A unix control socket's caller is who the kernel says it is (SO_PEERCRED, issue #10): the real
// relayd with --control unix:PATH and the real relayctl. What must hold: without a token file
// the caller is admin and named uid:N (this process's uid) in whoami and in the audit line; with
// a token file a `uid:N` line gives that uid its role, a uid with no line is unauthenticated
// unless it sends a bearer token, and a read-role uid may not change anything. As root, a child
// that became another user is seen as that user.
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "relayctl_runner.hpp"
#include "relayd_process.hpp"
#include "subprocess.hpp"
#include "tcp_sink.hpp"
#include "temp_dir.hpp"
#include "timeouts.hpp"
#include "token_hash.hpp"
#include "unique_fd.hpp"

namespace relay::test {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string escaped(const std::string& text) {
  return std::regex_replace(text, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)");
}

class UnixPeerTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--control", server_, "--stats-interval", "0", "--log-level", "info"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("udp@127.0.0.1:0");
    relayd_ = std::make_unique<RelaydProcess>(args);
    ASSERT_TRUE(relayd_->wait_ready());
  }
  void start_with_tokens(const std::string& lines) {
    write_file(tokens_, lines);
    start({"--control-token-file", tokens_});
  }

  RunResult ctl(std::vector<std::string> args, std::vector<std::string> flags = {}) {
    flags.insert(flags.begin(), {"--server", server_, "--timeout", "5s"});
    flags.insert(flags.end(), args.begin(), args.end());
    return RelayctlRunner(RELAYCTL_PATH, "").run_raw(flags);
  }

  std::string uid_line(const std::string& name, const std::string& role, uid_t uid) {
    return name + " " + role + " uid:" + std::to_string(uid) + "\n";
  }
  std::string dest() const { return "tcp@127.0.0.1:" + std::to_string(sink_.port()); }

  TempDir tmp_;
  const std::string sock_ = tmp_ / "control.sock";
  const std::string server_ = "unix:" + sock_;
  const std::string tokens_ = tmp_ / "tokens.conf";
  const uid_t me_ = ::getuid();
  const std::string me_id_ = "uid:" + std::to_string(::getuid());
  TcpSink sink_;
  std::unique_ptr<RelaydProcess> relayd_;
};

// Without a token file the socket's mode is the gate, and the caller is named by its uid.
TEST_F(UnixPeerTest, WithoutATokenFileTheCallerIsItsUidAndAdmin) {
  start();
  struct stat st {};
  ASSERT_EQ(::stat(sock_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  const RunResult who = ctl({"whoami"});
  ASSERT_EQ(who.exit_code, 0) << describe(who);
  EXPECT_TRUE(contains(who.out, me_id_)) << who.out;
  EXPECT_TRUE(contains(who.out, "admin")) << who.out;
  // The peer text: the socket, the uid and relayctl's pid as the kernel told them.
  EXPECT_TRUE(std::regex_search(who.out, std::regex(escaped(server_) + " uid=" + std::to_string(me_) + R"( pid=\d+)")))
      << who.out;

  const RunResult add = ctl({"dest", "add", dest()});
  ASSERT_EQ(add.exit_code, 0) << describe(add);
  EXPECT_TRUE(relayd_->wait_for_line("audit: " + me_id_ + " from " + escaped(server_) + " uid=" + std::to_string(me_) +
                                         R"( pid=\d+: AddDestination .* -> OK)",
                                     5s))
      << relayd_->log_text();
}

TEST_F(UnixPeerTest, AUidLineGivesThatUidItsRole) {
  start_with_tokens(uid_line("me", "admin", me_));
  const RunResult who = ctl({"whoami"});
  ASSERT_EQ(who.exit_code, 0) << describe(who);
  EXPECT_TRUE(contains(who.out, me_id_)) << who.out;
  EXPECT_TRUE(contains(who.out, "admin")) << who.out;
  const RunResult add = ctl({"dest", "add", dest()});
  ASSERT_EQ(add.exit_code, 0) << describe(add);
  EXPECT_TRUE(relayd_->wait_for_line("audit: " + me_id_ + " from unix:.*: AddDestination .* -> OK", 5s));
}

// Only another uid is listed: this one is a caller without credentials, unless it sends a token.
TEST_F(UnixPeerTest, AnUnlistedUidIsUnauthenticatedButATokenStillWorks) {
  start_with_tokens(uid_line("other", "admin", me_ + 1) + "ops admin " +
                    certs::token_hash_text(certs::hash_token("unix-secret")) + "\n");
  const RunResult who = ctl({"whoami"});
  EXPECT_EQ(who.exit_code, 4) << describe(who);
  EXPECT_TRUE(contains(who.err, "UNAUTHENTICATED")) << who.err;
  const RunResult add = ctl({"dest", "add", dest()});
  EXPECT_EQ(add.exit_code, 4) << describe(add);
  EXPECT_TRUE(contains(add.err, "UNAUTHENTICATED")) << add.err;
  EXPECT_TRUE(relayd_->wait_for_line("audit: " + me_id_ + " from unix:.*: AddDestination .* -> UNAUTHENTICATED", 5s))
      << relayd_->log_text();

  const std::string token = tmp_ / "token";
  write_file(token, "unix-secret\n");
  const RunResult with_token = ctl({"dest", "add", dest()}, {"--token-file", token});
  ASSERT_EQ(with_token.exit_code, 0) << describe(with_token);
  EXPECT_TRUE(relayd_->wait_for_line(
      "audit: token:ops from unix:.* uid=" + std::to_string(me_) + R"( pid=\d+: AddDestination .* -> OK)", 5s));
}

TEST_F(UnixPeerTest, AReadUidMayLookButNotChange) {
  start_with_tokens(uid_line("me", "read", me_));
  const RunResult who = ctl({"whoami"});
  ASSERT_EQ(who.exit_code, 0) << describe(who);
  EXPECT_TRUE(contains(who.out, me_id_)) << who.out;
  EXPECT_TRUE(contains(who.out, "read")) << who.out;
  const RunResult add = ctl({"dest", "add", dest()});
  EXPECT_EQ(add.exit_code, 4) << describe(add);
  EXPECT_TRUE(contains(add.err, "PERMISSION_DENIED")) << add.err;
  EXPECT_TRUE(relayd_->wait_for_line("audit: " + me_id_ + " from unix:.*: AddDestination .* -> PERMISSION_DENIED", 5s));
}

// relayctl run as another user (a forked child that setuid()s before exec) is seen as that user.
TEST_F(UnixPeerTest, AnotherUserIsSeenAsThatUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  constexpr uid_t kNobody = 65534;
  // The other user must be able to reach the socket: the directory and the socket opened up.
  fs::permissions(tmp_.path(), fs::perms::owner_all | fs::perms::others_exec | fs::perms::group_exec);
  start_with_tokens(uid_line("root", "admin", me_) + uid_line("nobody", "read", kNobody));
  ASSERT_EQ(::chmod(sock_.c_str(), 0666), 0);

  Pipe out = make_pipe();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::dup2(out.write_end.get(), 1);
    ::dup2(out.write_end.get(), 2);
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(126);
    ::execl(RELAYCTL_PATH, RELAYCTL_PATH, "--server", server_.c_str(), "--timeout", "5s", "whoami",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  out.write_end.reset();
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out.read_end.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << text;
  EXPECT_TRUE(contains(text, "uid:65534")) << text;
  EXPECT_TRUE(contains(text, "read")) << text;
  EXPECT_TRUE(contains(text, "uid=65534")) << text;

  // And this process is still itself on the same socket.
  const RunResult who = ctl({"whoami"});
  ASSERT_EQ(who.exit_code, 0) << describe(who);
  EXPECT_TRUE(contains(who.out, me_id_)) << who.out;
  EXPECT_TRUE(contains(who.out, "admin")) << who.out;
}

// The accept thread must not hold SIGTERM back, nor an idle connection it handed to gRPC (the
// grace is 2 s: a held shutdown would overrun the bound below).
TEST_F(UnixPeerTest, SigtermIsPromptWithAnIdleUnixConnection) {
  start();
  UniqueFd idle(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::snprintf(un.sun_path, sizeof un.sun_path, "%s", sock_.c_str());
  ASSERT_EQ(::connect(idle.get(), reinterpret_cast<const sockaddr*>(&un), sizeof un), 0);
  static constexpr char kHello[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
  ASSERT_EQ(::send(idle.get(), kHello, sizeof kHello - 1, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof kHello - 1));
  pollfd p{idle.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1) << "gRPC never answered on the handed-over connection";

  relayd_->signal(SIGTERM);
  EXPECT_EQ(relayd_->wait_exit(1500ms), 0);
  EXPECT_FALSE(fs::exists(sock_)) << "the socket file outlived relayd";
}

// Out of descriptors, relayd's own accept fails (EMFILE): counted, logged at most once a second,
// and accepting resumes by itself once descriptors are back (no rebuild on this path).
TEST_F(UnixPeerTest, AcceptingResumesAfterDescriptorsRanOut) {
  constexpr int kLimit = 256;
  const std::string n = std::to_string(kLimit);
  const std::string real = relayd_path();  // before RELAYD names prlimit
  const char* old = std::getenv("RELAYD");
  const std::string saved = old ? old : "";
  ::setenv("RELAYD", "/usr/bin/prlimit", 1);
  relayd_ = std::make_unique<RelaydProcess>(std::vector<std::string>{
      "--nofile=" + n + ":" + n, "--", real, "--control", server_, "--stats-interval", "0", "udp@127.0.0.1:0"});
  old ? ::setenv("RELAYD", saved.c_str(), 1) : ::unsetenv("RELAYD");
  ASSERT_TRUE(relayd_->wait_ready());
  const auto began = std::chrono::steady_clock::now();
  {
    std::vector<UniqueFd> held;
    for (int i = 0; i < 2 * kLimit; ++i) {
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_un un{};
      un.sun_family = AF_UNIX;
      std::snprintf(un.sun_path, sizeof un.sun_path, "%s", sock_.c_str());
      ASSERT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&un), sizeof un), 0) << i;
      held.push_back(std::move(fd));
    }
    ASSERT_TRUE(
        relayd_->wait_for_line("control: accepting on " + escaped(server_) + " failed: Too many open files", 10s))
        << "the flood did not exhaust";
  }  // the flood ends: gRPC closes its connections, descriptors come back
  EXPECT_TRUE(wait_until([&] { return ctl({"whoami"}).exit_code == 0; }, 15s)) << "control never answered again";
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - began);
  std::size_t failure_lines = 0;
  for (const auto& line : relayd_->log_lines()) failure_lines += contains(line, "control: accepting on") ? 1 : 0;
  EXPECT_LE(failure_lines, static_cast<std::size_t>(seconds.count()) + 2) << relayd_->log_text();
  relayd_->signal(SIGTERM);
  EXPECT_EQ(relayd_->wait_exit(10s), 0);
}

}  // namespace
}  // namespace relay::test
