// kafka@ end to end: the real relayd, fed keyed graphite-like lines over UDP, publishes them to a
// Kafka topic (6 partitions, replication 3) while the brokers go down and come back — first the
// leader of some partitions, then all three — and a real consumer reads the topic back: every
// message stored, in order per key (each key lives in one partition), and relayd's exit report
// accounts for every message with nothing unaccounted.
//
// The cluster is librdkafka's mock cluster in this process; with RELAY_TEST_KAFKA_BROKERS set,
// real brokers (docs/KAFKA.md), where the outage steps are skipped (nothing here can stop them).
// A TCP sink is a second destination: the sender paces on it (UDP has no backpressure), and it
// shows a Kafka outage holds no other destination back.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "accounting.hpp"
#include "kafka_cluster.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

constexpr std::size_t kPhase = 5000;  // messages per phase
constexpr std::size_t kPhases = 4;    // before, one broker down, all down, after
constexpr std::size_t kKeys = 64;     // metric names

std::vector<std::string> lines(std::size_t first, std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = first; i < first + n; ++i)
    out.push_back("relay.e2e.m" + std::to_string(i % kKeys) + " " + std::to_string(i) + " 1700000000");
  return out;
}

std::optional<StatsRecord> kafka_destination(const RelayStats& stats) {
  for (const auto& [address, record] : stats.destinations())
    if (address.starts_with("kafka@")) return record;
  return std::nullopt;
}

TEST(KafkaTest, BrokerOutagesMidStreamLoseNothingAndKeepOrderPerKey) {
  KafkaCluster cluster(3);
  const std::string topic = cluster.create_topic("relay-e2e", 6, cluster.real() ? 0 : 3);
  TcpSink pacer(Framing::lp32le);
  RelaydProcess relayd(relayd_args(
      "udp@127.0.0.1:0", {"kafka@" + cluster.bootstrap() + "/" + topic + "?key=field", destination(pacer.port())}));
  ASSERT_TRUE(relayd.wait_ready());
  UdpSender sender(relayd.udp_port());
  const auto paced = [&] { return pacer.count(); };
  std::size_t next = 0;
  const auto phase = [&] {
    ASSERT_TRUE(sender.send_paced(lines(next, kPhase), paced));
    next += kPhase;
  };

  phase();
  if (!cluster.real()) {
    // Broker 1 leads a third of the partitions: their messages wait inside librdkafka.
    ASSERT_TRUE(cluster.down(1));
    phase();
    const std::size_t mark = relayd.log_line_count();
    ASSERT_TRUE(cluster.down(-1));
    ASSERT_TRUE(relayd.wait_for_line(R"(kafka kafka@.*: down: )", 20s, mark)) << "relayd never saw the cluster down";
    phase();  // all taken by relayd's queue; the TCP destination keeps up meanwhile
    const std::size_t up_mark = relayd.log_line_count();
    ASSERT_TRUE(cluster.up(-1));
    ASSERT_TRUE(relayd.wait_for_line(R"(kafka kafka@.*: connected)", 30s, up_mark)) << "relayd never reconnected";
  } else {
    phase();
    phase();
  }
  phase();
  const std::size_t total = kPhases * kPhase;
  ASSERT_EQ(next, total);

  const auto records = read_topic(cluster.bootstrap(), topic, total, 40s);
  ASSERT_TRUE(pacer.wait_for_count(total, 20s));
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  // Relayd's side: every message received, every one acknowledged by Kafka, none unaccounted.
  const auto stats = relayd.stats();
  const auto listener = stats.listener(relayd.udp_port());
  ASSERT_TRUE(listener);
  EXPECT_EQ(listener->u("received_messages"), total);
  const auto kafka = kafka_destination(stats);
  ASSERT_TRUE(kafka) << "no kafka@ destination in the exit report";
  EXPECT_EQ(kafka->u("sent_messages"), total);
  EXPECT_EQ(kafka->u("dropped_lagging"), 0u);
  EXPECT_EQ(kafka->u("dropped_removed"), 0u);
  EXPECT_EQ(kafka->u("lag_messages"), 0u);
  if (!cluster.real()) {
    EXPECT_GE(kafka->u("disconnects"), 1u);
    EXPECT_GE(kafka->u("reconnects"), 1u);
  }
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), total}});

  // Kafka's side: every line stored; resends (after a reported failure) are the only duplicates.
  std::set<std::string> want;
  for (const auto& l : lines(0, total)) want.insert(l);
  std::map<std::string, std::int32_t> partition_of;
  std::map<std::string, std::int64_t> last_seq;
  std::size_t duplicates = 0;
  std::set<std::string> seen;
  for (const auto& r : records) {
    ASSERT_EQ(want.count(r.value), 1u) << "a record relayd never received: " << r.value;
    const std::string metric = r.value.substr(0, r.value.find(' '));
    ASSERT_TRUE(r.has_key);
    ASSERT_EQ(r.key, metric);
    const auto [at, fresh] = partition_of.emplace(metric, r.partition);
    ASSERT_EQ(at->second, r.partition) << "key " << metric << " in two partitions";
    if (!seen.insert(r.value).second) {
      ++duplicates;
      continue;
    }
    const std::int64_t seq = std::stoll(r.value.substr(metric.size() + 1));
    const auto last = last_seq.find(metric);
    if (last != last_seq.end()) {
      ASSERT_GT(seq, last->second) << "key " << metric << " out of order at partition " << r.partition << " offset "
                                   << r.offset;
    }
    last_seq[metric] = seq;
  }
  EXPECT_EQ(seen.size(), total) << "messages missing from the topic";
  EXPECT_LE(duplicates, kafka->u("resent_unacked"));
  if (kafka->u("publish_failures") == 0) {
    EXPECT_EQ(records.size(), total) << "duplicates without a failure";
  }
  EXPECT_EQ(pacer.messages(), lines(0, total)) << "the TCP destination lost or reordered messages";
  RecordProperty("publish_failures", static_cast<int>(kafka->u("publish_failures")));
  RecordProperty("duplicates", static_cast<int>(duplicates));
}

}  // namespace
}  // namespace relay::test
