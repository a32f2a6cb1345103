#include "nats_cluster.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "sockets.hpp"
#include "subprocess.hpp"
#include "timeouts.hpp"

namespace relay::test {
namespace {

std::string server_binary() {
  const char* env = std::getenv("NATS_SERVER");
  if (env != nullptr && *env != '\0') return env;
  for (const char* path : {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"})
    if (::access(path, X_OK) == 0) return path;
  return "nats-server";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

NatsCluster::NatsCluster(int nodes, std::chrono::milliseconds timeout) {
  if (nodes != 1 && nodes != 3) throw std::invalid_argument("NatsCluster: 1 or 3 nodes");
  nodes_.resize(static_cast<std::size_t>(nodes));
  for (int i = 0; i < nodes; ++i) {
    Node& n = nodes_[static_cast<std::size_t>(i)];
    n.name = std::to_string(i);
    n.name.insert(0, 1, 'n');
    n.client_port = reserve_port();
    n.cluster_port = reserve_port();
    n.config = dir_ / (n.name + ".conf");
    n.log = dir_ / (n.name + ".log");
  }
  for (auto& n : nodes_) {
    std::ofstream conf(n.config);
    conf << "server_name: " << n.name << "\n"
         << "listen: 127.0.0.1:" << n.client_port << "\n"
         << "jetstream { store_dir: \"" << (dir_ / n.name) << "\" }\n";
    if (nodes > 1) {
      conf << "cluster {\n  name: relaytest\n  listen: 127.0.0.1:" << n.cluster_port << "\n  routes: [\n";
      for (const auto& other : nodes_)
        if (&other != &n) conf << "    nats-route://127.0.0.1:" << other.cluster_port << "\n";
      conf << "  ]\n}\n";
    }
  }
  for (auto& n : nodes_) spawn(n);

  // Ready: a connection to any node answers a JetStream account request (with 3 nodes, only
  // once the meta group has elected a leader).
  std::vector<std::string> urls;
  for (const auto& n : nodes_) urls.push_back(std::string("nats://127.0.0.1:").append(std::to_string(n.client_port)));
  std::vector<const char*> curls;
  for (const auto& u : urls) curls.push_back(u.c_str());
  natsOptions* opts = nullptr;
  natsOptions_Create(&opts);
  natsOptions_SetServers(opts, curls.data(), static_cast<int>(curls.size()));
  natsOptions_SetMaxReconnect(opts, -1);
  natsOptions_SetReconnectWait(opts, 100);
  natsOptions_SetRetryOnFailedConnect(opts, true, nullptr, nullptr);
  const natsStatus st = natsConnection_Connect(&nc_, opts);
  natsOptions_Destroy(opts);
  if (st != NATS_OK && st != NATS_NOT_YET_CONNECTED)
    throw std::runtime_error(std::string("NatsCluster: connect: ") + natsStatus_GetText(st));
  const bool ready = wait_until(
      [&] {
        jsAccountInfo* ai = nullptr;
        jsOptions o;
        jsOptions_Init(&o);
        o.Wait = 500;
        if (js() == nullptr || js_GetAccountInfo(&ai, js(), &o, nullptr) != NATS_OK) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling period of a network request
          return false;
        }
        jsAccountInfo_Destroy(ai);
        return true;
      },
      timeout);
  if (!ready) throw std::runtime_error("NatsCluster: JetStream did not come up; logs:\n" + logs());
}

NatsCluster::~NatsCluster() {
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (nc_ != nullptr) natsConnection_Destroy(nc_);
  for (int i = 0; i < size(); ++i) kill(i);
}

void NatsCluster::spawn(Node& n) {
  const int fd = ::open(n.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("NatsCluster: cannot open " + n.log);
  n.pid = spawn_program(server_binary(), {"-c", n.config}, fd, fd);
  ::close(fd);
}

__jsCtx* NatsCluster::js() {
  if (js_ == nullptr && natsConnection_JetStream(&js_, nc_, nullptr) != NATS_OK) js_ = nullptr;
  return js_;
}

std::uint16_t NatsCluster::port(int node) const { return nodes_.at(static_cast<std::size_t>(node)).client_port; }

std::string NatsCluster::servers() const {
  std::string out;
  for (const auto& n : nodes_) {
    if (!out.empty()) out.push_back(',');
    out.append("127.0.0.1:").append(std::to_string(n.client_port));
  }
  return out;
}

bool NatsCluster::add_stream(const std::string& name, const std::string& subject, int replicas,
                             std::chrono::milliseconds timeout) {
  std::string last_error;
  const bool ok = wait_until(
      [&] {
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = name.c_str();
        const char* subjects[] = {subject.c_str()};
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Replicas = replicas;
        cfg.Duplicates = static_cast<int64_t>(120) * 1000 * 1000 * 1000;  // ns
        jsOptions o;
        jsOptions_Init(&o);
        o.Wait = 2000;
        jsStreamInfo* si = nullptr;
        jsErrCode err{};
        const natsStatus st = js_AddStream(&si, js(), &cfg, &o, &err);
        if (st == NATS_OK) {
          jsStreamInfo_Destroy(si);
          return true;
        }
        last_error = std::string(natsStatus_GetText(st)) + " " + nats_GetLastError(nullptr);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling period of a network request
        return false;
      },
      timeout);
  if (!ok) ADD_FAILURE() << "add_stream " << name << ": " << last_error;
  return ok && wait_stream_healthy(name, timeout);
}

std::optional<std::uint64_t> NatsCluster::stream_messages(const std::string& name) {
  jsStreamInfo* si = nullptr;
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = 1000;
  if (js() == nullptr || js_GetStreamInfo(&si, js(), name.c_str(), &o, nullptr) != NATS_OK) return std::nullopt;
  const std::uint64_t n = si->State.Msgs;
  jsStreamInfo_Destroy(si);
  return n;
}

std::optional<int> NatsCluster::stream_leader(const std::string& name) {
  jsStreamInfo* si = nullptr;
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = 1000;
  if (js() == nullptr || js_GetStreamInfo(&si, js(), name.c_str(), &o, nullptr) != NATS_OK) return std::nullopt;
  std::optional<int> leader;
  if (si->Cluster != nullptr && si->Cluster->Leader != nullptr)
    for (int i = 0; i < size(); ++i)
      if (nodes_[static_cast<std::size_t>(i)].name == si->Cluster->Leader) leader = i;
  if (size() == 1) leader = 0;
  jsStreamInfo_Destroy(si);
  return leader;
}

bool NatsCluster::wait_stream_healthy(const std::string& name, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        jsStreamInfo* si = nullptr;
        jsOptions o;
        jsOptions_Init(&o);
        o.Wait = 1000;
        bool healthy = js() != nullptr && js_GetStreamInfo(&si, js(), name.c_str(), &o, nullptr) == NATS_OK;
        if (healthy && size() > 1) {
          healthy = si->Cluster != nullptr && si->Cluster->Leader != nullptr && si->Cluster->ReplicasLen == size() - 1;
          for (int i = 0; healthy && i < si->Cluster->ReplicasLen; ++i)
            healthy = si->Cluster->Replicas[i]->Current && !si->Cluster->Replicas[i]->Offline;
        }
        if (si != nullptr) jsStreamInfo_Destroy(si);
        if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling period
        return healthy;
      },
      timeout);
}

std::vector<StoredMessage> NatsCluster::read_stream(const std::string& name, const std::string& subject,
                                                    std::uint64_t expected, std::chrono::milliseconds timeout) {
  std::vector<StoredMessage> out;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = name.c_str();
  so.Ordered = true;  // the library re-creates the consumer on a gap: every message, in stream order
  natsSubscription* sub = nullptr;
  std::string why;
  // Creating the consumer is a request to the stream's leader: retried while the cluster settles
  // (a node just died, or our connection is moving to another node).
  const bool subscribed = wait_until(
      [&] {
        if (js() != nullptr && js_SubscribeSync(&sub, js(), subject.c_str(), nullptr, &so, nullptr) == NATS_OK)
          return true;
        why = nats_GetLastError(nullptr);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling period of a network request
        return false;
      },
      timeout);
  if (!subscribed) {
    ADD_FAILURE() << "read_stream: subscribe: " << why;
    return out;
  }
  natsSubscription_SetPendingLimits(sub, -1, -1);
  const auto deadline = Clock::now() + scaled(timeout);
  while (out.size() < expected && Clock::now() < deadline) {
    natsMsg* m = nullptr;
    if (natsSubscription_NextMsg(&m, sub, 200) != NATS_OK) continue;
    StoredMessage sm;
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
      sm.seq = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
    }
    const char* id = nullptr;
    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr) sm.msg_id = id;
    sm.data.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
    out.push_back(std::move(sm));
    natsMsg_Destroy(m);
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  return out;
}

void NatsCluster::kill(int node) {
  Node& n = nodes_.at(static_cast<std::size_t>(node));
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGKILL);
  int status = 0;
  ::waitpid(n.pid, &status, 0);  // SIGKILL: returns at once
  n.pid = -1;
}

void NatsCluster::restart(int node) { spawn(nodes_.at(static_cast<std::size_t>(node))); }

bool NatsCluster::running(int node) const { return nodes_.at(static_cast<std::size_t>(node)).pid > 0; }

std::string NatsCluster::logs() const {
  std::string out;
  for (const auto& n : nodes_) out.append("---- ").append(n.name).append(" ----\n").append(read_file(n.log));
  return out;
}

}  // namespace relay::test
