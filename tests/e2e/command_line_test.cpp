// Command line: bad arguments exit 2 with a one-line reason on stderr and never start the
// daemon; --help and --version exit 0.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>

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

INSTANTIATE_TEST_SUITE_P(Cases, BadCommandLineTest,
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
                                           BadCase{"missing_option_value", {kListen, "--max-queue-bytes"}}),
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
}

}  // namespace
}  // namespace relay::test
