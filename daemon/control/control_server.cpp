#include "control_server.hpp"

#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>
#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "grpc_log.hpp"
#include "unique_fd.hpp"
#include "unix_listener.hpp"

namespace relay {

namespace {

constexpr const char* kServiceName = "relay.v1.RelayControl";
constexpr const char* kServicePrefix = "/relay.v1.RelayControl/";

bool is_unix(const std::string& address) { return address.starts_with("unix:"); }

// "unix:/p", "unix:rel" and "unix:///p" name the path /p, rel, /p.
std::string unix_path(const std::string& address) {
  std::string path = address.substr(5);
  if (path.starts_with("//")) path.erase(0, 2);
  return path;
}

[[noreturn]] void cannot_listen(const std::string& address, const std::string& why) {
  throw std::runtime_error("cannot listen for control on " + address + ": " + why);
}

[[noreturn]] void another_relayd(const std::string& address) {
  throw std::runtime_error("another relayd is serving control on " + address);
}

// Both are process-wide and must be set before a ServerBuilder is created; once is enough.
void enable_plugins() {
  static std::once_flag once;
  std::call_once(once, [] {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  });
}

void set_serving(grpc::Server& server, bool serving) {
  if (auto* health = server.GetHealthCheckService()) {
    health->SetServingStatus("", serving);
    health->SetServingStatus(kServiceName, serving);
  }
}

// Counts relay.v1 calls from their start to their end (gRPC deletes a call's interceptors when
// the call is done); health and reflection calls are not counted: shutdown need not wait for them.
class CallCounter final : public grpc::experimental::Interceptor {
 public:
  explicit CallCounter(std::atomic<int>& calls) : calls_(calls) { calls_.fetch_add(1); }
  ~CallCounter() override { calls_.fetch_sub(1); }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override { methods->Proceed(); }

 private:
  // seq_cst (the default): the count guards no data, but shutdown reads it to decide whether a
  // call is still in flight, and must not act on a value older than the call's start.
  std::atomic<int>& calls_;
};

class CallCounterFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallCounterFactory(std::atomic<int>& calls) : calls_(calls) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    const char* method = info->method();
    if (method == nullptr || !std::string_view(method).starts_with(kServicePrefix)) return nullptr;
    return new CallCounter(calls_);  // owned and deleted by gRPC
  }

 private:
  std::atomic<int>& calls_;
};

// Where the watchdog connects: the bound TCP address (a wildcard bind through loopback), or the
// unix socket path.
struct ProbeTarget {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

ProbeTarget tcp_probe_target(const std::string& address, int port) {
  std::string host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  ProbeTarget t;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || res == nullptr) return t;
  std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
  t.len = res->ai_addrlen;
  freeaddrinfo(res);
  return t;
}

ProbeTarget unix_probe_target(const std::string& path) {
  ProbeTarget t;
  auto& un = reinterpret_cast<sockaddr_un&>(t.addr);
  if (path.size() >= sizeof un.sun_path) return t;
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
  t.len = sizeof un;
  return t;
}

// Whether anything accepts on a unix socket path (a blocking connect returns at once there).
// Returns 0 when something answered, else the errno (ECONNREFUSED: a stale socket file).
int connect_unix(const std::string& path) {
  const ProbeTarget t = unix_probe_target(path);
  if (t.len == 0) return ENAMETOOLONG;
  const UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return errno;
  return connect(fd.get(), reinterpret_cast<const sockaddr*>(&t.addr), t.len) == 0 ? 0 : errno;
}

enum class Probe { answered, silent, unknown };

// Waits for `events` on fd in short slices so that shutdown need not wait for a probe.
bool wait_for(int fd, short events, std::chrono::milliseconds timeout, const std::atomic<bool>& stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!stop.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, events, 0};
    if (poll(&p, 1, 50) > 0) return true;
  }
  return false;
}

// One HTTP/2 connection attempt: the client preface and an empty SETTINGS frame. A gRPC server
// that accepted the connection answers with its own SETTINGS; one that no longer accepts leaves
// the connection in the kernel's backlog, silent. No descriptor for the probe (or any other
// local failure) proves nothing about the server.
Probe probe(const ProbeTarget& t, std::chrono::milliseconds timeout, const std::atomic<bool>& stop) {
  if (t.len == 0) return Probe::unknown;
  const UniqueFd fd(socket(t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Probe::unknown;
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&t.addr), t.len) != 0 && errno != EINPROGRESS)
    return errno == EAGAIN ? Probe::silent : Probe::unknown;  // EAGAIN: a unix backlog is full
  if (!wait_for(fd.get(), POLLOUT, timeout, stop))
    return stop.load(std::memory_order_relaxed) ? Probe::unknown : Probe::silent;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return Probe::unknown;
  static constexpr char kHello[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
  if (send(fd.get(), kHello, sizeof kHello - 1, MSG_NOSIGNAL) < 0) return Probe::unknown;
  if (!wait_for(fd.get(), POLLIN, timeout, stop))
    return stop.load(std::memory_order_relaxed) ? Probe::unknown : Probe::silent;
  return Probe::answered;  // bytes or EOF: either way the server accepted the connection
}

}  // namespace

struct ControlServer::Instance {
  std::atomic<int> relay_calls{0};  // see CallCounter
  std::unique_ptr<ControlService> service;
  std::unique_ptr<grpc::Server> server;  // last: destroyed first, while the rest still exists
  ProbeTarget probe;
};

namespace {

// Builds and starts a server on `address`; null if it could not bind. `selected` gets the port.
std::unique_ptr<grpc::Server> build(const std::string& address, const ControlSecurity* security,
                                    ControlService& service, std::atomic<int>& calls, int& selected) {
  enable_plugins();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second relayd bind the same port and
  // silently share (or steal) control calls; a taken port must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Unix sockets stay plaintext: the socket's mode and owner are their gate.
  const bool tls = security && security->config().tls() && !is_unix(address);
  // No address: a unix socket, whose connections UnixListener hands over one by one.
  if (!address.empty())
    builder.AddListeningPort(address, tls ? security->server_credentials() : grpc::InsecureServerCredentials(),
                             &selected);
  // No request of the API needs more than a few hundred bytes (an address is at most 512): a
  // bigger one is refused by gRPC before any of it is parsed, logged or echoed.
  builder.SetMaxReceiveMessageSize(ControlServer::kMaxRequestBytes);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> counters;
  counters.push_back(std::make_unique<CallCounterFactory>(calls));
  builder.experimental().SetInterceptorCreators(std::move(counters));
  auto server = builder.BuildAndStart();
  // A failed bind shows as a null server or, for TCP, a selected port of 0.
  if (server && !address.empty() && selected == 0) {
    server->Shutdown();
    server.reset();
  }
  return server;
}

// Ends one server: WatchStats streams first, then relay calls in flight get until `grace`.
// gRPC's own Shutdown(deadline) also waits for every connection to close, and a client that
// merely keeps its channel open never does; so once no relay call is left, the rest (idle
// connections, health and reflection streams) is cut at once.
void stop(std::unique_ptr<grpc::Server>& server, ControlService& service, const std::atomic<int>& relay_calls,
          std::chrono::milliseconds grace) {
  set_serving(*server, false);
  service.shutdown();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread stopper([&] {
    server->Shutdown(std::chrono::system_clock::now() + grace);
    std::lock_guard lock(m);
    done = true;
    cv.notify_all();
  });
  {
    std::unique_lock lock(m);
    // The poll period is how soon the last call's end is noticed, not synchronisation: the
    // condition itself is what is awaited.
    while (!done && relay_calls.load() > 0 && std::chrono::steady_clock::now() < deadline)
      cv.wait_for(lock, std::chrono::milliseconds(10));
    // Under m, so Shutdown has not returned and the server is alive.
    if (!done) grpc_server_cancel_all_calls(server->c_server());
  }
  stopper.join();
  server->Wait();
  server.reset();
}

}  // namespace

ControlServer::ControlServer(RelayApi& api, std::string address, const ControlSecurity* security)
    : api_(api),
      address_(std::move(address)),
      security_(security),
      options_(security ? security->config() : ControlOptions{}) {}

ControlServer::~ControlServer() { shutdown(); }

std::unique_ptr<ControlServer::Instance> ControlServer::listen_tcp(const std::string& address) {
  auto in = std::make_unique<Instance>();
  in->service = std::make_unique<ControlService>(api_, security_);
  int selected = 0;
  in->server = build(address, security_, *in->service, in->relay_calls, selected);
  if (!in->server) return nullptr;
  port_ = selected;
  in->probe = tcp_probe_target(address, selected);
  return in;
}

// relayd listens on the unix socket itself (unix_listener.hpp: gRPC's own unix listener tells
// nothing about the caller); the gRPC server has no port of its own and is handed each connection.
std::unique_ptr<ControlServer::Instance> ControlServer::listen_unix() {
  unix_ = std::make_unique<UnixListener>(address_, unix_path(address_), options_);
  auto in = std::make_unique<Instance>();
  in->service = std::make_unique<ControlService>(api_, security_);
  int selected = 0;
  in->server = build("", security_, *in->service, in->relay_calls, selected);
  if (!in->server) {
    unix_.reset();
    return nullptr;
  }
  unix_->start(*in->server);
  return in;
}

// Before the first bind: a socket someone answers on is refused, a stale one (nothing listens:
// a relayd that was killed) is removed, anything that is not a socket is left alone.
void ControlServer::start() {
  if (instance_) return;
  route_grpc_logs();
  if (address_.empty()) throw std::runtime_error("control address is empty");
  if (is_unix(address_)) {
    const std::string path = unix_path(address_);
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) cannot_listen(address_, path + " exists and is not a socket");
      const int err = connect_unix(path);
      if (err == 0) another_relayd(address_);
      if (err != ECONNREFUSED)
        cannot_listen(address_, std::string("cannot connect to the socket there: ") + strerror(err));
      spdlog::info("control: removing the stale socket {} (nothing listens on it)", path);
      unlink(path.c_str());
    }
    instance_ = listen_unix();
    if (!instance_) cannot_listen(address_, "cannot start the gRPC server");
  } else {
    instance_ = listen_tcp(address_);
    if (!instance_) cannot_listen(address_, "address in use?");
  }
  set_serving(*instance_->server, true);
  if (!is_unix(address_) && !options_.tls() && options_.insecure)
    spdlog::warn("control: serving {} without TLS (--control-insecure): anyone who can reach it can manage relayd",
                 address_);
  // Port 0 (tests) asks the kernel for one: say which.
  if (!is_unix(address_) && address_.ends_with(":0")) {
    spdlog::info("control: listening on {} (port {})", address_, port_);
  } else {
    spdlog::info("control: listening on {}", address_);
  }
  // On a unix socket relayd accepts itself and recovers from a failed accept by itself.
  if (!is_unix(address_)) watchdog_ = std::thread([this] { watch(); });
}

// TCP only. Two silent probes in a row: one could be a moment when every gRPC thread is busy. The second
// follows the first at once, so a dead server is rebuilt within kProbeInterval + 2 kProbeTimeout.
void ControlServer::watch() {
  int silent = 0;
  std::uint64_t accept_failures_seen = grpc_accept_failures();
  std::unique_lock lock(mu_);
  while (!stop_cv_.wait_for(lock, silent > 0 ? std::chrono::milliseconds(0) : kProbeInterval,
                            [this] { return stopping_; })) {
    if (!instance_) {
      restart();  // the last rebuild failed: try again
      continue;
    }
    // A plaintext probe of a TLS port would be a failed handshake (and an error line) every
    // second; there gRPC's own "Failed accept4" line is the signal (grpc_log.hpp).
    if (tls()) {
      const std::uint64_t failures = grpc_accept_failures();
      if (failures == accept_failures_seen) continue;
      accept_failures_seen = failures;
      spdlog::warn("control: the gRPC server stopped accepting connections on {}; rebuilding it", shown());
      restart();
      continue;
    }
    const ProbeTarget target = instance_->probe;
    lock.unlock();
    const Probe p = probe(target, kProbeTimeout, stop_probe_);
    lock.lock();
    if (p == Probe::unknown || stopping_) continue;
    silent = p == Probe::silent ? silent + 1 : 0;
    if (silent < 2) continue;
    silent = 0;
    spdlog::warn("control: the gRPC server stopped accepting connections on {}; rebuilding it", shown());
    restart();
  }
}

bool ControlServer::tls() const noexcept { return options_.tls() && !is_unix(address_); }

std::string ControlServer::shown() const {
  if (is_unix(address_) || port_ == 0) return address_;
  return address_.substr(0, address_.rfind(':') + 1) + std::to_string(port_);
}

// Called with mu_ held. The old server is stopped first, since the new one binds its address.
void ControlServer::restart() {
  if (instance_) {
    stop(instance_->server, *instance_->service, instance_->relay_calls, kRestartGrace);
    instance_.reset();
  }
  try {
    instance_ = listen_tcp(shown());
  } catch (const std::exception& e) {
    spdlog::warn("control: rebuilding the gRPC server failed: {}", e.what());
    return;
  }
  if (!instance_) {
    spdlog::warn("control: rebuilding the gRPC server on {} failed (no descriptor free?); retrying", shown());
    return;
  }
  set_serving(*instance_->server, true);
  const auto n = restarts_.fetch_add(1, std::memory_order_relaxed) + 1;
  spdlog::warn("control: gRPC server rebuilt on {} (restart {})", shown(), n);
}

void ControlServer::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_probe_.store(true, std::memory_order_relaxed);
  stop_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  if (!instance_ && !unix_) return;  // never started
  if (unix_) unix_->stop();          // no connection is handed to a server being stopped
  if (instance_) stop(instance_->server, *instance_->service, instance_->relay_calls, grace);
  instance_.reset();
  unix_.reset();  // closes the socket and removes the path while it is still ours
  const auto n = restarts();
  if (n > 0)
    spdlog::info("control: stopped (the server was rebuilt {} times)", n);
  else
    spdlog::info("control: stopped");
}

}  // namespace relay
