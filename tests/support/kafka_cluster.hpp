// kafka_cluster: a Kafka cluster for the kafka@ tests, and what a topic holds.
//
// By default librdkafka's mock cluster in the test's own process (rdkafka_mock.h: real Kafka
// protocol on real loopback sockets, brokers that can be set down and up). With
// RELAY_TEST_KAFKA_BROKERS=HOST:PORT[,...] the same tests run against those real brokers instead
// (docs/KAFKA.md); a broker cannot be stopped from here then, so down()/up() report false and the
// tests skip that step.
// Thread: the test's; librdkafka runs its own threads.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace relay::test {

class KafkaCluster {
 public:
  explicit KafkaCluster(int brokers = 3);
  ~KafkaCluster();
  KafkaCluster(const KafkaCluster&) = delete;
  KafkaCluster& operator=(const KafkaCluster&) = delete;

  bool real() const noexcept { return mock_ == nullptr; }
  const std::string& bootstrap() const noexcept { return bootstrap_; }
  // A new topic with a name unique to this run; replication `replicas` (real brokers: at most
  // their number, the broker's default when 0).
  std::string create_topic(std::string_view prefix, int partitions, int replicas);
  // Mock only (false on real brokers): broker `id` (1..N, -1 all) refuses connections / accepts again.
  bool down(int id);
  bool up(int id);
  // The mock cluster (null on real brokers), for error injection.
  rd_kafka_mock_cluster_t* mock() const noexcept { return mock_; }

 private:
  rd_kafka_t* owner_ = nullptr;  // the mock cluster's librdkafka handle (it needs one)
  rd_kafka_mock_cluster_t* mock_ = nullptr;
  std::string bootstrap_;
};

struct KafkaRecord {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  bool has_key = false;
  std::string key;
  std::string value;
};

// Every record `topic` holds: once its partitions' ends (high watermarks) add up to `expected` or
// more, each partition is read from its beginning to its end, so a record stored beyond
// `expected` (a duplicate) is returned too. Bounded by `timeout` (scaled). In partition order, and
// in offset order within a partition.
std::vector<KafkaRecord> read_topic(const std::string& bootstrap, const std::string& topic, std::size_t expected,
                                    std::chrono::milliseconds timeout);

}  // namespace relay::test
