#include "kafka_cluster.hpp"

#include <unistd.h>

#include <array>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <thread>

#include "timeouts.hpp"

namespace relay::test {
namespace {

struct RkDeleter {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
using RkPtr = std::unique_ptr<rd_kafka_t, RkDeleter>;

void set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  std::array<char, 512> err{};
  if (rd_kafka_conf_set(conf, name, value.c_str(), err.data(), err.size()) != RD_KAFKA_CONF_OK)
    throw std::runtime_error(std::string("librdkafka ") + name + ": " + err.data());
}

RkPtr client(rd_kafka_type_t type, const std::vector<std::pair<const char*, std::string>>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [name, value] : props) set(conf, name, value);
  std::array<char, 512> err{};
  rd_kafka_t* rk = rd_kafka_new(type, conf, err.data(), err.size());
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + err.data());
  }
  return RkPtr(rk);
}

int partition_count(rd_kafka_t* rk, const std::string& topic, Clock::time_point deadline) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  int count = 0;
  while (count == 0 && Clock::now() < deadline) {
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) count = md->topics[0].partition_cnt;
      rd_kafka_metadata_destroy(md);
    }
    if (count == 0) std::this_thread::sleep_for(20ms);  // polling period: the topic is being created
  }
  rd_kafka_topic_destroy(rkt);
  return count;
}

}  // namespace

KafkaCluster::KafkaCluster(int brokers) {
  if (const char* env = std::getenv("RELAY_TEST_KAFKA_BROKERS"); env != nullptr && *env != '\0') {
    bootstrap_ = env;
    return;
  }
  // The mock cluster lives inside a librdkafka handle; its log goes nowhere (the tests assert).
  owner_ = client(RD_KAFKA_PRODUCER, {{"log_level", "0"}}).release();
  mock_ = rd_kafka_mock_cluster_new(owner_, brokers);
  if (mock_ == nullptr) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(mock_);
}

KafkaCluster::~KafkaCluster() {
  if (mock_ != nullptr) rd_kafka_mock_cluster_destroy(mock_);
  if (owner_ != nullptr) rd_kafka_destroy(owner_);
}

std::string KafkaCluster::create_topic(std::string_view prefix, int partitions, int replicas) {
  static int serial = 0;
  const std::string name = std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(++serial);
  if (mock_ != nullptr) {
    if (rd_kafka_mock_topic_create(mock_, name.c_str(), partitions, replicas) != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw std::runtime_error("rd_kafka_mock_topic_create failed");
    return name;
  }
  RkPtr admin = client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap_}});
  std::array<char, 512> err{};
  rd_kafka_NewTopic_t* topic =
      rd_kafka_NewTopic_new(name.c_str(), partitions, replicas == 0 ? -1 : replicas, err.data(), err.size());
  if (topic == nullptr) throw std::runtime_error(std::string("NewTopic: ") + err.data());
  rd_kafka_queue_t* q = rd_kafka_queue_new(admin.get());
  rd_kafka_CreateTopics(admin.get(), &topic, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(scaled(30s).count()));
  std::string failure = ev == nullptr ? "timed out" : "";
  if (ev != nullptr) {
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) failure = rd_kafka_event_error_string(ev);
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(ev);
    std::size_t n = 0;
    const rd_kafka_topic_result_t** topics = result ? rd_kafka_CreateTopics_result_topics(result, &n) : nullptr;
    for (std::size_t i = 0; i < n; ++i)
      if (rd_kafka_topic_result_error(topics[i]) != RD_KAFKA_RESP_ERR_NO_ERROR)
        failure = rd_kafka_topic_result_error_string(topics[i]);
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(topic);
  if (!failure.empty()) throw std::runtime_error("CreateTopics " + name + ": " + failure);
  return name;
}

bool KafkaCluster::down(int id) {
  return mock_ != nullptr && rd_kafka_mock_broker_set_down(mock_, id) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

bool KafkaCluster::up(int id) {
  return mock_ != nullptr && rd_kafka_mock_broker_set_up(mock_, id) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

std::vector<KafkaRecord> read_topic(const std::string& bootstrap, const std::string& topic, std::size_t expected,
                                    std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + scaled(timeout);
  RkPtr rk = client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                        {"group.id", "relay-test-reader"},
                                        {"enable.auto.commit", "false"},
                                        {"enable.partition.eof", "false"},
                                        {"log_level", "3"}});
  const int partitions = partition_count(rk.get(), topic, deadline);
  // The end of each partition (its high watermark): once they add up to `expected`, the topic is
  // read to those ends, so anything stored beyond `expected` (a duplicate) is read too.
  std::map<std::int32_t, std::int64_t> ends;
  while (Clock::now() < deadline) {
    std::int64_t total = 0;
    for (std::int32_t p = 0; p < partitions; ++p) {
      std::int64_t lo = 0;
      std::int64_t hi = 0;
      if (rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &lo, &hi, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        ends[p] = hi;
      total += ends[p];
    }
    if (total >= static_cast<std::int64_t>(expected)) break;
    std::this_thread::sleep_for(20ms);  // polling period while the producer catches up
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (std::int32_t p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk.get(), list);
  rd_kafka_topic_partition_list_destroy(list);

  std::map<std::int32_t, std::vector<KafkaRecord>> by_partition;
  const auto done = [&] {
    for (const auto& [p, end] : ends) {
      const auto& got = by_partition[p];
      if (end > 0 && (got.empty() || got.back().offset + 1 < end)) return false;
    }
    return true;
  };
  while (!done() && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaRecord r;
      r.partition = m->partition;
      r.offset = m->offset;
      r.has_key = m->key != nullptr;
      if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      r.value.assign(static_cast<const char*>(m->payload), m->len);
      by_partition[m->partition].push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk.get());
  std::vector<KafkaRecord> out;
  for (auto& [p, records] : by_partition)
    for (auto& r : records) out.push_back(std::move(r));
  return out;
}

}  // namespace relay::test
