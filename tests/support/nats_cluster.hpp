// nats_cluster: real nats-server processes with JetStream on loopback, for the nats@ tests and
// the bench — one node, or three with cluster routes (an R3 stream then survives one node's
// death). Each node has its own temp store directory and log file; start-up waits for the
// condition (JetStream answering through a libnats connection), not for time.
//
// The nats-server binary is NATS_SERVER from the environment, else Debian's /usr/sbin/nats-server. Nodes
// are named n0, n1, n2 (server_name), which is how a stream's leader is reported.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "temp_dir.hpp"

struct __natsConnection;
struct __jsCtx;

namespace relay::test {

// One message as the stream holds it.
struct StoredMessage {
  std::uint64_t seq = 0;
  std::string msg_id;  // Nats-Msg-Id header, empty if none
  std::string data;
};

class NatsCluster {
 public:
  // Starts `nodes` (1 or 3) servers; throws std::runtime_error (with the servers' logs) when
  // JetStream does not answer within `timeout` (scaled).
  explicit NatsCluster(int nodes, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~NatsCluster();
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  std::uint16_t port(int node) const;
  // "127.0.0.1:P0,127.0.0.1:P1,..." — a nats@ address's server list.
  std::string servers() const;

  // Creates a file-stored stream over `subject` with `replicas` and a 2-minute duplicate window,
  // retrying while the cluster is still electing; false (recorded) after `timeout` (scaled).
  bool add_stream(const std::string& name, const std::string& subject, int replicas,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Messages stored, or nullopt when the stream does not answer (no leader right now).
  std::optional<std::uint64_t> stream_messages(const std::string& name);
  // The node (index) leading the stream, or nullopt.
  std::optional<int> stream_leader(const std::string& name);
  // Waits until the stream has a leader and every replica is current; false after `timeout`.
  bool wait_stream_healthy(const std::string& name, std::chrono::milliseconds timeout);
  // Every message of the stream, in sequence order, through an ordered push consumer; waits
  // (bounded) until `expected` have arrived, returns what arrived.
  std::vector<StoredMessage> read_stream(const std::string& name, const std::string& subject, std::uint64_t expected,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // SIGKILL, and wait for the process to be gone.
  void kill(int node);
  // Starts a killed node again on its ports and store.
  void restart(int node);
  bool running(int node) const;
  std::string logs() const;

 private:
  struct Node {
    std::string name;
    std::uint16_t client_port = 0;
    std::uint16_t cluster_port = 0;
    std::string config;
    std::string log;
    pid_t pid = -1;
  };
  void spawn(Node& n);
  __jsCtx* js();

  TempDir dir_{"relay-nats"};
  std::vector<Node> nodes_;
  __natsConnection* nc_ = nullptr;
  __jsCtx* js_ = nullptr;
};

}  // namespace relay::test
