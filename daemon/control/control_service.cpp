#include "control_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "control_caller.hpp"
#include "control_convert.hpp"
#include "printable.hpp"
#include "status_code_name.hpp"

namespace relay {

namespace pb = relay::v1;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

// How often a waiting WatchStats checks for cancellation: gRPC's sync API has no callback for
// it, so the wait is sliced. Shutdown itself interrupts the wait at once (condition variable).
constexpr milliseconds kCancelPoll{50};
// Longest client deadline taken literally; beyond it, time_point arithmetic could overflow.
constexpr std::chrono::hours kLongestDeadline{24};

grpc::StatusCode to_grpc(ApiCode code) noexcept {
  switch (code) {
    case ApiCode::invalid_argument: return grpc::StatusCode::INVALID_ARGUMENT;
    case ApiCode::already_exists: return grpc::StatusCode::ALREADY_EXISTS;
    case ApiCode::not_found: return grpc::StatusCode::NOT_FOUND;
    case ApiCode::resource_exhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ApiCode::deadline_exceeded: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case ApiCode::unavailable: return grpc::StatusCode::UNAVAILABLE;
    case ApiCode::internal: return grpc::StatusCode::INTERNAL;
    case ApiCode::failed_precondition: return grpc::StatusCode::FAILED_PRECONDITION;
  }
  return grpc::StatusCode::UNKNOWN;
}

// The API's contract: an INVALID_ARGUMENT message starts with the field's name.
std::string message_naming_field(const ApiError& e) {
  std::string_view msg = e.what();
  if (e.field().empty() || msg.starts_with(e.field() + ":")) return std::string(msg);
  return e.field() + ": " + std::string(msg);
}

[[noreturn]] void refuse(std::string field, std::string_view why) {
  std::string msg = field + ": " + std::string(why);
  throw ApiError(ApiCode::invalid_argument, std::move(msg), std::move(field));
}

std::variant<Identity, Refusal> authorize(const ControlSecurity* security, const CallerFacts& caller, Role role) {
  if (security) return security->authorize(caller, role);
  static const AccessPolicy open = AccessPolicy::open();
  return open.authorize(caller, role);
}

grpc::Status refusal_status(const Refusal& r) {
  return grpc::Status(r.kind == Refusal::Kind::unauthenticated ? grpc::StatusCode::UNAUTHENTICATED
                                                               : grpc::StatusCode::PERMISSION_DENIED,
                      r.message);
}

// Turns whatever a request body throws into the status the client sees.
template <typename Body>
grpc::Status run_body(Body&& body) {
  try {
    body();
    return grpc::Status::OK;
  } catch (const ApiError& e) {
    return grpc::Status(to_grpc(e.code()), message_naming_field(e));
  } catch (const EndpointError& e) {
    // parse_endpoint only ever sees the request's address.
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string("address: ") + e.what());
  } catch (const std::exception& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
  }
}

std::string outcome(const grpc::Status& status) {
  if (status.ok()) return "OK";
  return std::string(status_code_name(status.error_code())) + ": " + printable(status.error_message(), 200);
}

// The RelayApi deadline for a call: the client's, or kDefaultDeadline (+ `extra`) when it set none.
Deadline call_deadline(const grpc::ServerContext& ctx, milliseconds extra = milliseconds{0}) {
  const auto now = steady_clock::now();
  const auto client = ctx.deadline();
  if (client == std::chrono::system_clock::time_point::max()) {
    return now + ControlService::kDefaultDeadline + extra;
  }
  const auto left = client - std::chrono::system_clock::now();
  return now + std::chrono::duration_cast<steady_clock::duration>(
                   std::clamp<std::chrono::system_clock::duration>(left, {}, kLongestDeadline));
}

// A google.protobuf.Duration as nanoseconds; refuses negative ones and those its definition
// rules out (nanos beyond a second, or of the other sign than seconds), which would otherwise
// be read as some other length.
std::chrono::nanoseconds to_nanos(const google::protobuf::Duration& d, const std::string& field) {
  const bool nanos_in_range = d.nanos() > -1'000'000'000 && d.nanos() < 1'000'000'000;
  const bool mixed_signs = (d.seconds() > 0 && d.nanos() < 0) || (d.seconds() < 0 && d.nanos() > 0);
  if (!nanos_in_range || mixed_signs) {
    refuse(field, "not a valid Duration (nanos must be within +-999999999 and have the sign of seconds)");
  }
  if (d.seconds() < 0 || d.nanos() < 0) refuse(field, "must not be negative");
  const auto longest = std::chrono::duration_cast<std::chrono::seconds>(kLongestDeadline).count();
  if (d.seconds() > longest || (d.seconds() == longest && d.nanos() > 0)) refuse(field, "longer than 24h");
  return std::chrono::seconds{d.seconds()} + std::chrono::nanoseconds{d.nanos()};
}

milliseconds to_millis(const google::protobuf::Duration& d, const std::string& field) {
  return std::chrono::duration_cast<milliseconds>(to_nanos(d, field));
}

// "tcp@HOST:PORT" without "?framing=...": what identifies a destination's peer.
std::string_view peer_part(std::string_view address) { return address.substr(0, address.find('?')); }

// A destination address in a request, canonicalised for matching against snapshots (whose
// address may or may not carry the framing suffix).
struct AddressQuery {
  std::string peer;                // canonical "tcp@HOST:PORT"
  std::optional<Framing> framing;  // when the request spelled "?framing="
};

AddressQuery parse_query(const std::string& text) {
  const Endpoint ep = parse_endpoint(text);
  AddressQuery q{std::string(peer_part(ep.str())), std::nullopt};
  if (text.find('?') != std::string::npos) q.framing = ep.framing;
  return q;
}

bool matches(const AddressQuery& q, const DestinationSnapshot& d) {
  return peer_part(d.address) == q.peer && (!q.framing || *q.framing == d.framing);
}

// The destination a GetDestination/RemoveDestination request names by id or address.
template <typename Request>
DestinationSnapshot find_target(const RelayApi& api, const Request& req) {
  std::optional<AddressQuery> query;
  switch (req.target_case()) {
    case Request::kId: break;
    case Request::kAddress:
      if (req.address().empty()) refuse("address", "required");
      query = parse_query(req.address());
      break;
    default: refuse("target", "set id or address");
  }
  for (auto& d : api.destinations()) {
    if (query ? matches(*query, d) : d.id == req.id()) return std::move(d);
  }
  const std::string which = query ? req.address() : "id " + std::to_string(req.id());
  throw ApiError(ApiCode::not_found, "no destination " + which);
}

AddDestinationRequest from_proto(const pb::AddDestinationRequest& in) {
  if (in.address().empty()) refuse("address", "required");
  AddDestinationRequest out;
  out.address = in.address();
  out.framing = framing_from_proto(in.framing(), "framing");
  out.start = start_from_proto(in.start(), "start");
  if (in.replaces() != 0) out.replaces = in.replaces();
  return out;
}

// Validated drain fields; the id is resolved separately (find_target).
RemoveDestinationRequest drain_from_proto(const pb::RemoveDestinationRequest& in) {
  RemoveDestinationRequest out;
  out.drain = in.drain();
  if (in.has_drain_timeout()) {
    if (!in.drain()) refuse("drain_timeout", "only meaningful with drain");
    out.drain_timeout = to_millis(in.drain_timeout(), "drain_timeout");
  }
  return out;
}

// Compared in nanoseconds: truncated to milliseconds, 1 ns would read as zero (the default) and
// 99.9 ms as too short by less than it is.
milliseconds watch_interval(const pb::WatchStatsRequest& in) {
  if (!in.has_interval()) return ControlService::kDefaultWatchInterval;
  const std::chrono::nanoseconds interval = to_nanos(in.interval(), "interval");
  if (interval == std::chrono::nanoseconds{0}) return ControlService::kDefaultWatchInterval;
  if (interval < ControlService::kMinWatchInterval) {
    refuse("interval", "must be at least " + std::to_string(ControlService::kMinWatchInterval.count()) + "ms");
  }
  return std::chrono::duration_cast<milliseconds>(interval);
}

// Counts a WatchStats call for the kMaxWatchers limit for as long as it runs.
class WatcherSlot {
 public:
  explicit WatcherSlot(std::atomic<int>& count) : count_(count) {
    if (count_.fetch_add(1) >= ControlService::kMaxWatchers) {
      count_.fetch_sub(1);
      throw ApiError(ApiCode::resource_exhausted, "too many WatchStats streams open");
    }
  }
  ~WatcherSlot() { count_.fetch_sub(1); }
  WatcherSlot(const WatcherSlot&) = delete;
  WatcherSlot& operator=(const WatcherSlot&) = delete;

 private:
  std::atomic<int>& count_;
};

}  // namespace

// Every call: who is calling, may they, then the body. Changes (role admin) leave one audit line
// whatever the outcome; refused reads one debug line (a watcher polling for a destination that
// is gone is routine).
template <typename Body>
grpc::Status ControlService::run(const grpc::ServerContext& ctx, std::string_view method, Role role, Body&& body,
                                 const std::string& what, const pb::Destination* changed) {
  const CallerFacts caller = caller_facts(ctx);
  const auto who = authorize(security_, caller, role);
  const auto* id = std::get_if<Identity>(&who);
  const grpc::Status status = id ? run_body([&] { body(*id, caller); }) : refusal_status(std::get<Refusal>(who));
  const std::string name = id                                   ? id->name
                           : std::get<Refusal>(who).who.empty() ? "unauthenticated"
                                                                : std::get<Refusal>(who).who;
  if (role == Role::admin) {
    const std::string detail = status.ok() && changed ? " (id " + std::to_string(changed->id()) + ")" : "";
    spdlog::info("audit: {} from {}: {} {} -> {}{}", printable(name, 160), printable(caller.peer, 300), method, what,
                 outcome(status), detail);
  } else if (!status.ok()) {
    spdlog::debug("control: {} by {} from {} refused: {}", method, printable(name, 160), printable(caller.peer, 300),
                  outcome(status));
  }
  return status;
}

void ControlService::shutdown() noexcept {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
}

bool ControlService::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

grpc::Status ControlService::AddDestination(grpc::ServerContext* ctx, const pb::AddDestinationRequest* req,
                                            pb::Destination* resp) {
  return run(
      *ctx, "AddDestination", Role::admin,
      [&](const Identity&, const CallerFacts&) {
        to_proto(api_.add_destination(from_proto(*req), call_deadline(*ctx)), *resp);
      },
      printable(req->address(), 160), resp);
}

grpc::Status ControlService::Reload(grpc::ServerContext* ctx, const pb::ReloadRequest*, pb::ReloadResponse* resp) {
  return run(
      *ctx, "Reload", Role::admin,
      [&](const Identity&, const CallerFacts&) {
        const ReloadReport r = api_.reload_configuration();
        resp->set_config_file(r.config_file);
        const ReloadPlan& p = r.outcome.plan;
        for (const auto& a : p.remove) resp->add_removed(a);
        for (const auto& a : p.add) resp->add_added(a);
        for (const auto& swap : p.replace) resp->add_replaced(swap.from + " -> " + swap.to);
        for (const auto& a : p.applied) resp->add_applied(a);
        for (const auto& a : p.restart) resp->add_restart_required(a);
        for (const auto& a : r.outcome.failed) resp->add_failed(a);
        for (const auto& a : r.outcome.listeners_removed) resp->add_listeners_removed(a);
        for (const auto& a : r.outcome.listeners_added) resp->add_listeners_added(a);
      },
      "config file");
}

grpc::Status ControlService::RemoveDestination(grpc::ServerContext* ctx, const pb::RemoveDestinationRequest* req,
                                               pb::Destination* resp) {
  const std::string what = req->target_case() == pb::RemoveDestinationRequest::kAddress
                               ? printable(req->address(), 160)
                               : "id " + std::to_string(req->id());
  return run(
      *ctx, "RemoveDestination", Role::admin,
      [&](const Identity&, const CallerFacts&) {
        RemoveDestinationRequest core = drain_from_proto(*req);
        core.id = find_target(api_, *req).id;
        // Without a client deadline, allow for the drain on top of the default.
        const Deadline deadline = call_deadline(*ctx, core.drain ? core.drain_timeout : milliseconds{0});
        to_proto(api_.remove_destination(core, deadline), *resp);
      },
      what + (req->drain() ? " (drain)" : ""), resp);
}

grpc::Status ControlService::ListDestinations(grpc::ServerContext* ctx, const pb::ListDestinationsRequest*,
                                              pb::ListDestinationsResponse* resp) {
  return run(*ctx, "ListDestinations", Role::read, [&](const Identity&, const CallerFacts&) {
    auto all = api_.destinations();
    std::ranges::sort(all, {}, &DestinationSnapshot::id);
    for (const auto& d : all) to_proto(d, *resp->add_destinations());
  });
}

grpc::Status ControlService::GetDestination(grpc::ServerContext* ctx, const pb::GetDestinationRequest* req,
                                            pb::Destination* resp) {
  return run(*ctx, "GetDestination", Role::read,
             [&](const Identity&, const CallerFacts&) { to_proto(find_target(api_, *req), *resp); });
}

grpc::Status ControlService::GetStats(grpc::ServerContext* ctx, const pb::GetStatsRequest*, pb::Stats* resp) {
  return run(*ctx, "GetStats", Role::read, [&](const Identity&, const CallerFacts&) { to_proto(api_.stats(), *resp); });
}

grpc::Status ControlService::GetInfo(grpc::ServerContext* ctx, const pb::GetInfoRequest*, pb::Info* resp) {
  return run(*ctx, "GetInfo", Role::read, [&](const Identity& who, const CallerFacts& caller) {
    to_proto(api_.info(), *resp);
    resp->mutable_caller()->set_identity(who.name);
    resp->mutable_caller()->set_role(role_name(who.role));
    resp->mutable_caller()->set_peer(caller.peer);
    if (security_) {
      const auto& o = security_->config();
      resp->mutable_security()->set_tls(o.tls());
      resp->mutable_security()->set_client_certificates_required(o.mutual_tls());
      resp->mutable_security()->set_credentials_required(!o.token_file.empty());
    }
  });
}

grpc::Status ControlService::WatchStats(grpc::ServerContext* ctx, const pb::WatchStatsRequest* req,
                                        grpc::ServerWriter<pb::Stats>* writer) {
  return run(*ctx, "WatchStats", Role::read, [&](const Identity&, const CallerFacts&) {
    const milliseconds interval = watch_interval(*req);
    const WatcherSlot slot(watchers_);
    stream_stats(*ctx, interval, *writer);
  });
}

void ControlService::stream_stats(grpc::ServerContext& ctx, milliseconds interval,
                                  grpc::ServerWriter<pb::Stats>& writer) {
  auto next = steady_clock::now();
  while (!stopping()) {
    pb::Stats msg;
    to_proto(api_.stats(), msg);
    if (!writer.Write(msg)) return;  // the client is gone
    // Keep a steady cadence, but after a slow write start over rather than send a burst.
    next = std::max(next + interval, steady_clock::now());
    if (!wait_until(ctx, next)) break;
  }
  if (ctx.IsCancelled()) return;
  throw ApiError(ApiCode::unavailable, "relayd is shutting down");
}

bool ControlService::wait_until(grpc::ServerContext& ctx, steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  while (!stopping_ && !ctx.IsCancelled()) {
    const auto now = steady_clock::now();
    if (now >= until) return true;
    stop_cv_.wait_until(lock, std::min(until, now + kCancelPoll));
  }
  return false;
}

}  // namespace relay
