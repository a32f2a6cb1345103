#include "relay.hpp"

#include <spdlog/spdlog.h>

#include "stats_report.hpp"

namespace relay {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The client thread's refusal in the API's terms: a status code, and the request field at fault.
ApiError api_error(const CommandError& e) {
  switch (e.failure()) {
    case CommandFailure::duplicate: return ApiError(ApiCode::already_exists, e.what(), "address");
    case CommandFailure::unknown_id: return ApiError(ApiCode::not_found, e.what(), "id");
    case CommandFailure::limit_reached: return ApiError(ApiCode::resource_exhausted, e.what());
    case CommandFailure::shutting_down: return ApiError(ApiCode::unavailable, e.what());
    case CommandFailure::timed_out: return ApiError(ApiCode::deadline_exceeded, e.what());
  }
  return ApiError(ApiCode::unavailable, e.what());
}

}  // namespace

Relay::Relay(const Config& cfg)
    : cfg_(cfg),
      started_(std::chrono::steady_clock::now()),
      queue_(cfg.queue),
      client_(queue_, cfg.client),
      background_(queue_, cfg.background, [this] { log_stats(); }),
      server_(queue_, cfg.listen, cfg.ingest, [this] { client_.wake(); }) {
  queue_.set_hooks([this] { background_.pressure(); }, [this] { client_.wake(); });
  for (const auto& l : server_.listeners()) {
    if (l.address.starts_with("tcp@") || l.address.starts_with("tls@")) own_.add(parse_endpoint(l.address, false));
  }
}

// A unix control socket (or none) has no TCP address to protect.
void Relay::control_listening_on(int port) {
  if (cfg_.control.empty() || cfg_.control.starts_with("unix:") || port <= 0) return;
  try {
    Endpoint ep = parse_endpoint("tcp@" + cfg_.control, false);
    ep.set_port(static_cast<std::uint16_t>(port));
    own_.add(ep);
  } catch (const EndpointError& e) {
    spdlog::warn("control address {} not understood as HOST:PORT ({}); destinations are not checked against it",
                 cfg_.control, e.what());
  }
}

void Relay::refuse_own_address(const Endpoint& dest) const {
  if (const auto own = own_.reached_by(dest))
    throw ApiError(ApiCode::invalid_argument,
                   "destination " + dest.str() + " is relayd's own address " + *own +
                       ": messages would come straight back (a loop), or reach the control port",
                   "address");
}

Relay::~Relay() { shutdown(); }

void Relay::start() {
  for (const auto& ep : cfg_.destinations) refuse_own_address(ep);  // before anything runs
  client_.start();
  background_.start();
  server_.start();
  running_ = true;
  const Deadline deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (const auto& ep : cfg_.destinations) client_.add(ep, StartAt::tail, deadline);
  if (cfg_.destinations.empty())
    spdlog::info(
        "no destination yet: add one with `relayctl dest add tcp@HOST:PORT` or restart with relayd LISTEN "
        "tcp@HOST:PORT");
}

void Relay::shutdown() {
  if (!running_) return;
  running_ = false;
  server_.stop();  // nothing new arrives; the tail is final
  const auto timeout = std::chrono::milliseconds(static_cast<long long>(cfg_.drain_timeout * 1000));
  spdlog::info("shutting down: {} messages received; draining destinations for up to {:.1f} s", queue_.tail(),
               cfg_.drain_timeout);
  client_.drain_and_stop(timeout);
  background_.stop();
  log_stats();
}

void Relay::log_stats() {
  auto now = std::make_unique<StatsSnapshot>(stats());
  for (const auto& line : format_stats(*now, last_report_.get())) spdlog::info("{}", line);
  last_report_ = std::move(now);
}

// A name's lookup holds the calling gRPC thread for as long as DNS takes: a few at once is
// plenty for an operator, and a flood of slow ones cannot pin every thread (or make hundreds).
Endpoint Relay::resolve_destination(const std::string& address) {
  constexpr int kMaxLookups = 8;
  // relaxed: a count of calls in progress; no other memory is published through it.
  if (lookups_.fetch_add(1, std::memory_order_relaxed) >= kMaxLookups) {
    lookups_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: as above
    throw ApiError(ApiCode::resource_exhausted,
                   "already " + std::to_string(kMaxLookups) + " address lookups in progress; try again", "address");
  }
  struct Release {
    std::atomic<int>& n;
    ~Release() { n.fetch_sub(1, std::memory_order_relaxed); }  // relaxed: as above
  } release{lookups_};
  try {
    return parse_endpoint(address, true);
  } catch (const EndpointError& e) {
    throw ApiError(ApiCode::invalid_argument, e.what(), "address");
  }
}

DestinationSnapshot Relay::add_destination(const AddDestinationRequest& req, Deadline deadline) {
  Endpoint ep = resolve_destination(req.address);
  if (ep.transport != Transport::tcp)
    throw ApiError(ApiCode::invalid_argument, "destinations are tcp@HOST:PORT or tls@HOST:PORT", "address");
  if (req.framing) ep.framing = *req.framing;
  refuse_own_address(ep);
  try {
    return client_.add(std::move(ep), req.start, deadline);
  } catch (const CommandError& e) {
    throw api_error(e);
  }
}

DestinationSnapshot Relay::remove_destination(const RemoveDestinationRequest& req, Deadline deadline) {
  try {
    return client_.remove(Removal{req.id, req.drain, req.drain_timeout}, deadline);
  } catch (const CommandError& e) {
    throw api_error(e);
  }
}

std::vector<DestinationSnapshot> Relay::destinations() const { return client_.snapshot(); }

std::vector<ListenerSnapshot> Relay::listener_snapshots() const {
  std::vector<ListenerSnapshot> out;
  for (const auto& l : server_.listeners())
    out.push_back(ListenerSnapshot{l.address, l.rcvbuf_granted_bytes, read(*l.counters)});
  return out;
}

StatsSnapshot Relay::stats() const {
  StatsSnapshot s;
  s.unix_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  s.uptime_seconds = seconds_since(started_);
  s.listeners = listener_snapshots();
  for (const auto& l : s.listeners) s.received += l.counters;
  s.queue = queue_.stats();
  s.destinations = client_.snapshot();
  s.ingest_wait_seconds = server_.ingest_wait_seconds();
  return s;
}

RelayInfo Relay::info() const {
  RelayInfo i;
  i.version = RELAY_VERSION;
  i.uptime_seconds = seconds_since(started_);
  i.listeners = listener_snapshots();
  i.control_address = cfg_.control;
  i.max_queue_bytes = queue_.stats().max_queue_bytes;
  i.max_message_bytes = cfg_.ingest.max_message;
  i.max_destinations = static_cast<std::uint32_t>(cfg_.client.max_destinations);
  return i;
}

}  // namespace relay
