// The disk-backed queue end to end (issue #12): the real relayd with --data-dir, real UDP in,
// real TCP sinks out, across SIGKILL, SIGTERM, an outage longer than the memory budget lasts,
// and a segment file damaged while relayd was down.
//
// Every test has a live destination that paces the sender (UDP has no backpressure) and a
// destination that is down while the messages arrive.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <thread>

#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "sequence_check.hpp"
#include "sockets.hpp"
#include "tcp_sink.hpp"
#include "temp_dir.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1 << 20;

TcpSink::Options down_sink() {
  TcpSink::Options o;
  o.port = reserve_port();
  o.start = false;
  return o;
}

class DurableRestartTest : public ::testing::Test {
 protected:
  // relayd on a fixed UDP port (the sender keeps it across restarts) and the data directory.
  std::unique_ptr<RelaydProcess> start(std::initializer_list<std::string> extra = {}) {
    std::vector<std::string> args = data_path_options();
    for (const auto& a : {"--data-dir", data_.c_str(), "--sync-interval", "0.1", "--drain-timeout", "1"})
      args.emplace_back(a);
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("udp@127.0.0.1:" + std::to_string(udp_port_));
    args.push_back(destination(late_.port()));
    args.push_back(destination(live_.port()));
    auto r = std::make_unique<RelaydProcess>(args);
    EXPECT_TRUE(r->wait_ready());
    return r;
  }

  // Sends seqs [from, to) paced by the live destination, which must get them all.
  void send(std::uint64_t from, std::uint64_t to, std::size_t size = 100) {
    const std::size_t before = live_.count();
    UdpSender sender(udp_port_);
    ASSERT_TRUE(sender.send_paced(make_payloads(from, to - from, size), [&] { return live_.count() - before; }));
    ASSERT_TRUE(live_.wait_for_count(before + (to - from), 20s)) << live_.count();
  }

  TempDir dir_{"durable-e2e"};
  std::string data_ = dir_ / "data";
  std::uint16_t udp_port_ = reserve_port();
  TcpSink late_{down_sink()};
  TcpSink live_{Framing::lp32le};
};

// Every seq in [0, total) at least once; duplicates are allowed (at-least-once after SIGKILL).
::testing::AssertionResult has_every_message(const std::vector<std::string>& messages, std::uint64_t total) {
  std::set<std::uint64_t> seen;
  for (const auto s : seqs(messages))
    if (s < total) seen.insert(s);
  if (seen.size() == total) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << seen.size() << " distinct messages of " << total << " in " << messages.size();
}

TEST_F(DurableRestartTest, KilledRelaydLosesNothingAndResumesEachDestination) {
  constexpr std::uint64_t kN = 20000;
  auto relayd = start();
  send(0, kN);
  relayd->signal(SIGKILL);
  ASSERT_EQ(relayd->wait_exit(10s), 128 + SIGKILL);
  const std::size_t live_before = live_.count();

  late_.start();
  relayd = start();
  ASSERT_TRUE(relayd->wait_for_line(std::to_string(kN) + " messages recovered", 5s));
  EXPECT_TRUE(late_.wait_for_count(kN, 30s)) << late_.count();
  // Then the live stream, to both.
  send(kN, kN + 1000);
  ASSERT_TRUE(late_.wait_for_count(kN + 1000, 20s)) << late_.count();
  relayd->signal(SIGTERM);
  ASSERT_EQ(relayd->wait_exit(20s), 0);

  // The destination that was down got the whole stream, once, in order: it had acknowledged
  // nothing, so its recorded position was 0 whatever the checkpoint's age.
  EXPECT_TRUE(is_whole_stream(late_.messages(), kN + 1000));
  // The live one may get again what it acknowledged after the last recorded position (at most a
  // sync interval's worth), never less than everything.
  EXPECT_TRUE(has_every_message(live_.messages(), kN + 1000));
  const std::size_t again = live_.count() - live_before - 1000;
  RecordProperty("live_duplicates_after_sigkill", static_cast<int>(again));
  std::cout << "duplicates at the live destination after SIGKILL: " << again << " (checkpoint every 0.1 s)\n";
}

// SIGKILL while datagrams are still coming: whatever relayd had taken in — the recovered count it
// logs at the restart — reaches the destination that was down, whole and in order, and includes
// everything the live destination had seen before the kill.
TEST_F(DurableRestartTest, KilledMidStreamEveryReceivedMessageArrives) {
  constexpr std::uint64_t kN = 60000;
  auto relayd = start();
  std::atomic<bool> killed{false};
  std::thread sender([&] {
    UdpSender udp(udp_port_);
    for (std::uint64_t i = 0; i < kN && !killed.load(); ++i) {
      udp.send(make_payload(i, 100));
      // At most 256 ahead of the live destination (UDP has no backpressure), until the kill.
      if (i % 64 == 0) wait_until([&] { return killed.load() || live_.count() + 256 >= i; }, 10s);
    }
  });
  ASSERT_TRUE(live_.wait_for_count(kN / 3, 30s)) << live_.count();
  relayd->signal(SIGKILL);
  killed = true;
  sender.join();
  ASSERT_EQ(relayd->wait_exit(10s), 128 + SIGKILL);
  const auto seen_live = seqs(live_.messages());
  const std::uint64_t live_max = *std::max_element(seen_live.begin(), seen_live.end());

  late_.start();
  relayd = start();
  const auto line = relayd->wait_for_line(R"(: \d+ messages recovered)", 5s);
  ASSERT_TRUE(line);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(*line, m, std::regex(R"(: (\d+) messages recovered)"))) << *line;
  const std::uint64_t recovered = std::stoull(m[1].str());
  EXPECT_GT(recovered, live_max) << "the live destination saw message " << live_max << " before the kill";
  ASSERT_TRUE(late_.wait_for_count(recovered, 30s)) << late_.count() << " of " << recovered;
  relayd->signal(SIGTERM);
  ASSERT_EQ(relayd->wait_exit(20s), 0);
  EXPECT_TRUE(is_whole_stream(late_.messages(), recovered));
  EXPECT_TRUE(has_every_message(live_.messages(), recovered));
  std::cout << "killed mid-stream: " << recovered << " messages recovered, the live destination had seen up to "
            << live_max << "\n";
}

TEST_F(DurableRestartTest, TerminatedRelaydSendsNothingTwice) {
  constexpr std::uint64_t kN = 10000;
  auto relayd = start();
  send(0, kN);
  relayd->signal(SIGTERM);
  ASSERT_EQ(relayd->wait_exit(20s), 0);
  // What the down destination did not get is kept for the next start, not counted as removed.
  const auto stopped = relayd->stats().destination(late_.port());
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->u("dropped_removed"), 0u);
  EXPECT_EQ(stopped->u("lag_messages"), kN) << "still queued, on disk";
  EXPECT_TRUE(relayd->wait_for_line("kept in the data directory for the next start", 1s));

  late_.start();
  relayd = start();
  ASSERT_TRUE(late_.wait_for_count(kN, 30s)) << late_.count();
  send(kN, 2 * kN);
  ASSERT_TRUE(late_.wait_for_count(2 * kN, 20s)) << late_.count();
  relayd->signal(SIGTERM);
  ASSERT_EQ(relayd->wait_exit(20s), 0);
  EXPECT_TRUE(is_whole_stream(late_.messages(), 2 * kN));
  EXPECT_TRUE(is_whole_stream(live_.messages(), 2 * kN)) << "the live destination got something twice";
  const auto d = relayd->stats().destination(late_.port());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->u("dropped_lagging"), 0u);
}

// 20 MB while a destination is down, against a 4 MiB memory budget: without --data-dir the
// budget would evict most of it (backlog_test); with it nothing is dropped, relayd's memory
// stays near the budget, and the backlog comes back in order.
TEST_F(DurableRestartTest, AnOutageLongerThanTheMemoryBudgetLosesNothing) {
  constexpr std::uint64_t kN = 100000;
  constexpr std::size_t kSize = 200;
  auto relayd = start({"--max-queue-bytes", "4MiB", "--max-disk-bytes", "256MiB"});
  std::uint64_t peak_rss = 0;
  for (std::uint64_t from = 0; from < kN; from += 10000) {
    send(from, from + 10000, kSize);
    std::ifstream in("/proc/" + std::to_string(relayd->pid()) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("VmRSS:")) peak_rss = std::max<std::uint64_t>(peak_rss, std::stoull(line.substr(6)) * 1024);
  }
  std::cout << "peak RSS during the outage: " << peak_rss / kMiB << " MiB (20 MB queued, 4 MiB budget)\n";
  if (timeout_scale() == 1) {  // sanitizers' shadow memory and quarantine are not relayd's
    EXPECT_LT(peak_rss, 4 * kMiB + 64 * kMiB) << "RSS must stay near the memory budget";
  }
  const auto replay_start = Clock::now();
  late_.start();
  ASSERT_TRUE(late_.wait_for_count(kN, 60s)) << late_.count();
  const double seconds = std::chrono::duration<double>(Clock::now() - replay_start).count();
  std::cout << "replayed " << kN << " messages of " << kSize << " bytes in " << seconds << " s\n";
  relayd->signal(SIGTERM);
  ASSERT_EQ(relayd->wait_exit(20s), 0);
  EXPECT_TRUE(is_whole_stream(late_.messages(), kN));
  const auto stats = relayd->stats();
  const auto d = stats.destination(late_.port());
  const auto l = stats.listener(udp_port_);
  ASSERT_TRUE(d && l);
  EXPECT_EQ(d->u("dropped_lagging"), 0u);
  EXPECT_EQ(l->u("dropped_queue_full"), 0u);
  EXPECT_EQ(d->u("sent_messages"), kN);
}

// The newest segment file's last batches damaged while relayd was down: relayd starts, names
// the file, counts what it lost, and delivers everything before the damage.
TEST_F(DurableRestartTest, ADamagedSegmentIsCutCountedAndTheRestDelivered) {
  constexpr std::uint64_t kN = 2000;  // one segment
  auto relayd = start();
  send(0, kN);
  relayd->signal(SIGTERM);
  ASSERT_EQ(relayd->wait_exit(20s), 0);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(data_))
    if (e.path().filename().string().starts_with("seg-")) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u) << "2000 small messages fit one segment";
  {
    // Records start after the 4 KiB header; each is 4 + 100 bytes. Damage message 1500.
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 1500 * 104 + 50);
    f.write("garbage", 7);
  }

  late_.start();
  relayd = start();
  ASSERT_TRUE(relayd->wait_for_line("fails its checksum", 5s)) << relayd->log_text();
  ASSERT_TRUE(late_.wait_for_count(1400, 30s)) << late_.count();
  relayd->signal(SIGTERM);
  ASSERT_EQ(relayd->wait_exit(20s), 0);
  const auto got = late_.messages();
  const auto r = check_sequence(got);
  EXPECT_TRUE(r.contiguous()) << "missing " << r.missing << ", out of order " << r.out_of_order;
  EXPECT_EQ(r.first, 0u);
  EXPECT_LE(r.last, 1500u) << "the damaged batch must not be delivered";
  EXPECT_GE(got.size(), 1400u) << "the batches before the damage are delivered";
  const auto lost = kN - got.size();
  const std::string counted = std::to_string(lost) + " lost to damage";
  EXPECT_TRUE(relayd->wait_for_line(counted, 1s)) << relayd->log_text();
}

}  // namespace
}  // namespace relay::test
