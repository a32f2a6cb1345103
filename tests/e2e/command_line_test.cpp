// Command line: bad arguments exit 2 with a one-line reason on stderr and never start the
// daemon; --help and --version exit 0.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <memory>

#include "accounting.hpp"
#include "relayd_process.hpp"
#include "timeouts.hpp"

namespace relay::test {
namespace {

std::size_t non_empty_lines(const std::string& text) {
  std::size_t n = 0, start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) ++n;
    start = end + 1;
  }
  return n;
}

// A relayd that was sent nothing and has no destination exits with a report that adds up to zero.
void expect_idle_exit_report(const RelaydProcess& relayd) {
  expect_exit_report_adds_up(relayd.stats(), {{relayd.udp_port(), 0}}, {}, DestinationLines::none);
}

struct BadCase {
  std::string name;
  std::vector<std::string> args;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadCommandLineTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadCommandLineTest, ExitsTwoWithOneLineReason) {
  std::vector<std::string> args{"--control", "none"};
  args.insert(args.end(), GetParam().args.begin(), GetParam().args.end());
  const RunResult r = RelaydProcess::run_to_completion(args, 10s);
  ASSERT_FALSE(r.timed_out) << "relayd accepted the bad command line and kept running";
  EXPECT_EQ(r.exit_code, 2) << "stderr: " << r.err;
  EXPECT_EQ(non_empty_lines(r.err), 1u) << "stderr: " << r.err;
  EXPECT_EQ(r.err.find("relayd ready"), std::string::npos);
}

const std::string kListen = "udp@127.0.0.1:0";

INSTANTIATE_TEST_SUITE_P(
    Cases, BadCommandLineTest,
    ::testing::Values(BadCase{"unknown_flag", {"--no-such-flag", kListen}},
                      BadCase{"listen_without_port", {"udp@nowhere"}},
                      BadCase{"port_out_of_range", {kListen, "tcp@1.2.3.4:99999"}},
                      BadCase{"unknown_transport", {"sctp@127.0.0.1:9"}},
                      BadCase{"unknown_framing", {kListen, "tcp@127.0.0.1:9?framing=bogus"}},
                      BadCase{"negative_queue_bytes", {"--max-queue-bytes", "-5", kListen}},
                      BadCase{"garbage_queue_bytes", {"--max-queue-bytes", "lots", kListen}},
                      BadCase{"bad_queue_suffix", {"--max-queue-bytes", "64Q", kListen}},
                      BadCase{"garbage_message_size", {"--max-message-size", "abc", kListen}},
                      BadCase{"negative_stats_interval", {"--stats-interval", "-1", kListen}},
                      BadCase{"garbage_drain_timeout", {"--drain-timeout", "soon", kListen}},
                      BadCase{"negative_reconnect_min", {"--reconnect-min", "-1", kListen}},
                      BadCase{"garbage_rcvbuf", {"--rcvbuf", "big", kListen}},
                      BadCase{"bad_log_level", {"--log-level", "loud", kListen}},
                      BadCase{"missing_option_value", {kListen, "--max-queue-bytes"}},
                      BadCase{"queue_below_four_segments", {"--max-queue-bytes", "4194303", kListen}},
                      BadCase{"stats_interval_too_short", {"--stats-interval", "0.001", kListen}},
                      BadCase{"stats_interval_nan", {"--stats-interval", "nan", kListen}},
                      BadCase{"drain_timeout_huge", {"--drain-timeout", "1e300", kListen}},
                      BadCase{"drain_timeout_nan", {"--drain-timeout", "nan", kListen}},
                      BadCase{"drain_timeout_inf", {"--drain-timeout", "inf", kListen}},
                      BadCase{"reconnect_spin", {"--reconnect-min", "1e-9", "--reconnect-max", "1e-9", kListen}},
                      BadCase{"reconnect_max_nan", {"--reconnect-max", "nan", kListen}},
                      BadCase{"connect_timeout_tiny", {"--connect-timeout", "1e-9", kListen}},
                      BadCase{"connect_timeout_inf", {"--connect-timeout", "inf", kListen}},
                      BadCase{"rcvbuf_above_1gib", {"--rcvbuf", "2GiB", kListen}}),
    [](const auto& p) { return p.param.name; });

TEST(CommandLineTest, HelpExitsZero) {
  const RunResult r = RelaydProcess::run_to_completion({"--help"}, 10s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE((r.out + r.err).find("--max-queue-bytes"), std::string::npos) << "help should list the options";
}

TEST(CommandLineTest, VersionExitsZero) {
  const RunResult r = RelaydProcess::run_to_completion({"--version"}, 10s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE((r.out + r.err).find('.'), std::string::npos) << "no version number in: " << r.out << r.err;
}

TEST(CommandLineTest, SizeSuffixesAreAccepted) {
  RelaydProcess relayd({"--control", "none", "--max-queue-bytes", "64M", "--max-message-size", "65536", kListen});
  ASSERT_TRUE(relayd.wait_ready());
  EXPECT_NE(relayd.udp_port(), 0);
  relayd.signal(SIGINT);
  EXPECT_EQ(relayd.wait_exit(10s), 0);
  expect_idle_exit_report(relayd);
}

// The error names the flag the operator must change, and the way out.
TEST(CommandLineTest, LargestMessageSizeNamesTheQueueBudgetItNeeds) {
  const RunResult r =
      RelaydProcess::run_to_completion({"--control", "none", "--max-message-size", "16777216", kListen}, 10s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(non_empty_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("--max-message-size 16777216 needs --max-queue-bytes of at least 268697600"), std::string::npos)
      << r.err;
  RelaydProcess relayd({"--control", "none", "--max-message-size", "16777216", "--max-queue-bytes", "1GiB", kListen});
  EXPECT_TRUE(relayd.wait_ready());
  relayd.signal(SIGTERM);
  EXPECT_EQ(relayd.wait_exit(10s), 0);
  expect_idle_exit_report(relayd);
}

// What --help says about a numeric option, and values just inside and just outside it.
struct HelpRange {
  std::string flag;
  std::string help;  // what --help prints after the flag
  std::vector<std::string> accepted;
  std::vector<std::string> refused;
};

void PrintTo(const HelpRange& c, std::ostream* os) { *os << c.flag; }

class HelpRangeTest : public ::testing::TestWithParam<HelpRange> {};

TEST_P(HelpRangeTest, HelpStatesTheRangeTheParserApplies) {
  const auto& c = GetParam();
  const RunResult help = RelaydProcess::run_to_completion({"--help"}, 10s);
  EXPECT_NE(help.out.find(c.flag + " " + c.help), std::string::npos) << help.out;
  for (const auto& v : c.accepted) {
    RelaydProcess relayd({"--control", "none", c.flag, v, kListen});
    EXPECT_TRUE(relayd.wait_ready()) << c.flag << " " << v;
    relayd.signal(SIGTERM);
    EXPECT_EQ(relayd.wait_exit(10s), 0) << c.flag << " " << v;
    expect_idle_exit_report(relayd);
  }
  for (const auto& v : c.refused) {
    const RunResult r = RelaydProcess::run_to_completion({"--control", "none", c.flag, v, kListen}, 10s);
    ASSERT_FALSE(r.timed_out) << c.flag << " " << v;
    EXPECT_EQ(r.exit_code, 2) << c.flag << " " << v << ": " << r.err;
    EXPECT_EQ(non_empty_lines(r.err), 1u) << r.err;
    EXPECT_TRUE(r.err.starts_with("relayd: ")) << r.err;
    EXPECT_NE(r.err.find(c.flag), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("(see relayd --help)"), std::string::npos) << r.err;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Options, HelpRangeTest,
    ::testing::Values(HelpRange{"--max-queue-bytes", "SIZE in [4MiB - 1TiB]", {"4MiB"}, {"4194303"}},
                      HelpRange{"--rcvbuf", "SIZE in [0 - 1GiB]", {"0", "1GiB"}, {"1073741825"}},
                      HelpRange{"--stats-interval", "SECONDS 0 (off) or in [1 - 86400]", {"0", "1"}, {"0.5", "86401"}},
                      HelpRange{"--drain-timeout", "SECONDS in [0 - 3600]", {"0", "3600"}, {"3600.5", "-0.1"}},
                      HelpRange{"--reconnect-min", "SECONDS in [0.01 - 3600]", {"0.01"}, {"0.009", "3601"}},
                      HelpRange{"--reconnect-max", "SECONDS in [0.01 - 3600]", {"0.1", "3600"}, {"0.009", "3601"}},
                      HelpRange{"--connect-timeout", "SECONDS in [0.01 - 3600]", {"0.01", "3600"}, {"0.009", "3601"}}),
    [](const auto& p) {
      std::string name;
      for (char ch : p.param.flag.substr(2)) name += ch == '-' ? '_' : ch;
      return name;
    });

}  // namespace
}  // namespace relay::test

namespace relay::test {
namespace {

// The soft "Max open files" limit of a process, from /proc/PID/limits.
std::uint64_t soft_open_file_limit(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Max open files", 0) == 0) return std::stoull(line.substr(26));
  }
  ADD_FAILURE() << "no 'Max open files' line";
  return 0;
}

// Issue #9 item 7: a soft limit of 256 would let a flood of ingest connections take every
// descriptor (then gRPC stops accepting for good); relayd raises it to the hard limit at start.
TEST(CommandLineTest, RaisesTheOpenFileLimitToTheHardLimit) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max <= 256) GTEST_SKIP() << "hard open file limit " << saved.rlim_max << " leaves nothing to raise";
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  auto relayd = std::make_unique<RelaydProcess>(std::vector<std::string>{"--control", "none", "udp@127.0.0.1:0"});
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);  // only relayd starts low
  ASSERT_TRUE(relayd->wait_ready());
  EXPECT_EQ(soft_open_file_limit(relayd->pid()), saved.rlim_max == RLIM_INFINITY ? 0 : saved.rlim_max);
  EXPECT_TRUE(relayd->wait_for_line("open file limit raised from 256", 5s)) << relayd->log_text();
  relayd->signal(SIGTERM);
  EXPECT_EQ(relayd->wait_exit(20s), 0);
  expect_idle_exit_report(*relayd);
}

}  // namespace
}  // namespace relay::test
