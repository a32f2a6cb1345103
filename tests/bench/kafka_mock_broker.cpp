// kafka_mock_broker: librdkafka's mock Kafka cluster as a process, for benchmarks of relayd's
// kafka@ destinations (tests/bench/kafka_bench.py) without a real broker.
//
// Creates --brokers brokers and one topic (--partitions, --replication), prints
// {"bootstrap":"HOST:PORT,...","topic":"NAME"}, then answers each line on stdin: "count" prints
// {"stored":N} (the sum of the partitions' high watermarks: records the brokers acknowledged).
// Exits on end of input. The mock brokers run on librdkafka's threads in this process, so their
// CPU is this process's, apart from relayd's.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>

namespace {

rd_kafka_t* client(rd_kafka_type_t type, const std::string& bootstrap) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, 512> err{};
  if (!bootstrap.empty() &&
      rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err.data(), err.size()) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "kafka_mock_broker: %s\n", err.data());
    std::exit(1);
  }
  rd_kafka_conf_set(conf, "log_level", "3", nullptr, 0);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err.data(), err.size());
  if (rk == nullptr) {
    std::fprintf(stderr, "kafka_mock_broker: rd_kafka_new: %s\n", err.data());
    std::exit(1);
  }
  return rk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kafka_mock_broker: librdkafka's mock Kafka cluster for benchmarks"};
  int brokers = 3;
  int partitions = 6;
  int replication = 3;
  std::string topic = "relay-bench";
  app.add_option("--brokers", brokers, "brokers")->check(CLI::Range(1, 16))->capture_default_str();
  app.add_option("--partitions", partitions, "partitions of the topic")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--replication", replication, "replication factor")->check(CLI::Range(1, 16))->capture_default_str();
  app.add_option("--topic", topic, "topic to create")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (replication > brokers) {
    std::fprintf(stderr, "kafka_mock_broker: --replication above --brokers\n");
    return 2;
  }

  rd_kafka_t* owner = client(RD_KAFKA_PRODUCER, "");
  rd_kafka_mock_cluster_t* mock = rd_kafka_mock_cluster_new(owner, brokers);
  if (mock == nullptr || rd_kafka_mock_topic_create(mock, topic.c_str(), partitions, replication) != 0) {
    std::fprintf(stderr, "kafka_mock_broker: cannot create the cluster or topic\n");
    return 1;
  }
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mock);
  fmt::print("{{\"bootstrap\":\"{}\",\"topic\":\"{}\"}}\n", bootstrap, topic);
  std::fflush(stdout);

  rd_kafka_t* reader = client(RD_KAFKA_CONSUMER, bootstrap);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line != "count") continue;
    std::int64_t stored = 0;
    for (int p = 0; p < partitions; ++p) {
      std::int64_t lo = 0;
      std::int64_t hi = 0;
      if (rd_kafka_query_watermark_offsets(reader, topic.c_str(), p, &lo, &hi, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        stored += hi;
    }
    fmt::print("{{\"stored\":{}}}\n", stored);
    std::fflush(stdout);
  }
  rd_kafka_destroy(reader);
  rd_kafka_mock_cluster_destroy(mock);
  rd_kafka_destroy(owner);
  return 0;
}
