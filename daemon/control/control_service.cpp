#include "control_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "control_convert.hpp"
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

// Reads are routine (a watcher polling for a destination that is gone); changes are not.
enum class Kind { read, change };

// Runs one request body, turning whatever it throws into the status the client sees, and logs
// one line per refusal.
template <typename Body>
grpc::Status run(const grpc::ServerContext& ctx, std::string_view method, Kind kind, Body&& body) {
  grpc::Status status;
  try {
    body();
    return grpc::Status::OK;
  } catch (const ApiError& e) {
    status = grpc::Status(to_grpc(e.code()), message_naming_field(e));
  } catch (const EndpointError& e) {
    // parse_endpoint only ever sees the request's address.
    status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string("address: ") + e.what());
  } catch (const std::exception& e) {
    status = grpc::Status(grpc::StatusCode::INTERNAL, e.what());
  }
  const auto level = kind == Kind::change ? spdlog::level::info : spdlog::level::debug;
  spdlog::log(level, "control: {} from {} refused: {}: {}", method, ctx.peer(), status_code_name(status.error_code()),
              status.error_message());
  return status;
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
  if (d.seconds() > std::chrono::duration_cast<std::chrono::seconds>(kLongestDeadline).count()) {
    refuse(field, "longer than 24h");
  }
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
  return run(*ctx, "AddDestination", Kind::change,
             [&] { to_proto(api_.add_destination(from_proto(*req), call_deadline(*ctx)), *resp); });
}

grpc::Status ControlService::RemoveDestination(grpc::ServerContext* ctx, const pb::RemoveDestinationRequest* req,
                                               pb::Destination* resp) {
  return run(*ctx, "RemoveDestination", Kind::change, [&] {
    RemoveDestinationRequest core = drain_from_proto(*req);
    core.id = find_target(api_, *req).id;
    // Without a client deadline, allow for the drain on top of the default.
    const Deadline deadline = call_deadline(*ctx, core.drain ? core.drain_timeout : milliseconds{0});
    to_proto(api_.remove_destination(core, deadline), *resp);
  });
}

grpc::Status ControlService::ListDestinations(grpc::ServerContext* ctx, const pb::ListDestinationsRequest*,
                                              pb::ListDestinationsResponse* resp) {
  return run(*ctx, "ListDestinations", Kind::read, [&] {
    auto all = api_.destinations();
    std::ranges::sort(all, {}, &DestinationSnapshot::id);
    for (const auto& d : all) to_proto(d, *resp->add_destinations());
  });
}

grpc::Status ControlService::GetDestination(grpc::ServerContext* ctx, const pb::GetDestinationRequest* req,
                                            pb::Destination* resp) {
  return run(*ctx, "GetDestination", Kind::read, [&] { to_proto(find_target(api_, *req), *resp); });
}

grpc::Status ControlService::GetStats(grpc::ServerContext* ctx, const pb::GetStatsRequest*, pb::Stats* resp) {
  return run(*ctx, "GetStats", Kind::read, [&] { to_proto(api_.stats(), *resp); });
}

grpc::Status ControlService::GetInfo(grpc::ServerContext* ctx, const pb::GetInfoRequest*, pb::Info* resp) {
  return run(*ctx, "GetInfo", Kind::read, [&] { to_proto(api_.info(), *resp); });
}

grpc::Status ControlService::WatchStats(grpc::ServerContext* ctx, const pb::WatchStatsRequest* req,
                                        grpc::ServerWriter<pb::Stats>* writer) {
  return run(*ctx, "WatchStats", Kind::read, [&] {
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
