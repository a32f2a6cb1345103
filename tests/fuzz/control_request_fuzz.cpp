// control_request_fuzz: the control service's request validation, through ControlService itself
// (its checks are private to control_service.cpp) over a fake RelayApi. Input: a method byte, then
// a serialized relay.v1 request of that method's type. Whatever the request, the service must not
// crash and must answer OK, INVALID_ARGUMENT naming the field first, or NOT_FOUND, with a short
// line of printable text (it is logged and sent back). What it accepts must also be what
// relay.proto and docs/CONTROL.md document: WatchStats intervals unset, zero, or at least 100 ms
// as a valid Duration (and, the service's ceiling, at most 86,400 whole seconds);
// drain_timeout only with drain, never negative. Addresses with a host name are skipped: they
// would query DNS.
#include <google/protobuf/stubs/logging.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/sync_stream.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "control_service.hpp"
#include "endpoint.hpp"
#include "relay/v1/relay.pb.h"

namespace pb = relay::v1;

namespace {

struct FuzzTag {};

[[noreturn]] void fail() { std::abort(); }

// What a fake stats() throws, so WatchStats ends before it would write (it has no real stream).
constexpr std::string_view kWatchAccepted = "fake: interval accepted";

class FakeApi final : public relay::RelayApi {
 public:
  relay::DestinationSnapshot add_destination(const relay::AddDestinationRequest& req, relay::Deadline) override {
    relay::Endpoint ep = relay::parse_endpoint(req.address);  // as Relay does (resolve_destination)
    if (req.framing) ep.framing = *req.framing;
    relay::DestinationSnapshot d;
    d.id = 100;
    d.address = ep.str();
    d.framing = ep.framing;
    return d;
  }
  relay::DestinationSnapshot remove_destination(const relay::RemoveDestinationRequest& req, relay::Deadline) override {
    if (req.drain_timeout < std::chrono::milliseconds{0} || req.drain_timeout > std::chrono::hours{24}) fail();
    for (const auto& d : destinations())
      if (d.id == req.id) return d;
    fail();  // the service resolved an id that does not exist
  }
  std::vector<relay::DestinationSnapshot> destinations() const override {
    std::vector<relay::DestinationSnapshot> all(3);
    all[0].id = 1, all[0].address = "tcp@127.0.0.1:9000";
    all[1].id = 2, all[1].address = "tcp@[::1]:9001?framing=line", all[1].framing = relay::Framing::line;
    all[2].id = 7, all[2].address = "tcp@10.0.0.1:65535", all[2].framing = relay::Framing::raw;
    return all;
  }
  relay::StatsSnapshot stats() const override {
    throw relay::ApiError(relay::ApiCode::unavailable, std::string(kWatchAccepted));
  }
  relay::RelayInfo info() const override { return {}; }
};

// Same rule as endpoint_fuzz: only a bracketed IPv6 literal or digits and dots as the host.
bool numeric_host(std::string_view text) {
  const auto at = text.find('@');
  if (at == std::string_view::npos) return true;
  std::string_view rest = text.substr(at + 1);
  if (rest.starts_with('[')) return true;
  rest = rest.substr(0, rest.find('?'));
  rest = rest.substr(0, rest.rfind(':'));
  return rest.find_first_not_of("0123456789.") == std::string_view::npos;
}

void check_message(const grpc::Status& s) {
  const std::string& m = s.error_message();
  if (m.size() > 1024) fail();
  for (const char c : m) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) fail();
  }
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
    case grpc::StatusCode::NOT_FOUND: return;
    case grpc::StatusCode::INVALID_ARGUMENT:
      for (const char* field : {"address:", "framing:", "start:", "target:", "drain_timeout:", "interval:"})
        if (m.starts_with(field)) return;
      fail();
    default: fail();  // INTERNAL (an unexpected exception) or anything else
  }
}

// WatchStats accepts exactly what relay.proto documents.
bool interval_valid(const pb::WatchStatsRequest& r) {
  if (!r.has_interval()) return true;
  const auto& d = r.interval();
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999'999'999) return false;
  if (d.seconds() == 0 && d.nanos() == 0) return true;
  // At most 24h, to the nanosecond (relay.proto).
  if (d.seconds() > 24 * 3600 || (d.seconds() == 24 * 3600 && d.nanos() > 0)) return false;
  return d.seconds() > 0 || d.nanos() >= 100'000'000;
}

template <typename Request>
bool parse(Request& r, const std::uint8_t* data, std::size_t size) {
  return r.ParseFromArray(data, static_cast<int>(size));
}

}  // namespace

// The one way to make a ServerWriter outside a call: its constructor is private to this template.
template <>
class grpc::internal::ServerStreamingHandler<FuzzTag, pb::WatchStatsRequest, pb::Stats> {
 public:
  static grpc::ServerWriter<pb::Stats> writer(grpc::ServerContext* ctx) { return {nullptr, ctx}; }
};

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Refusals are logged by design, and protobuf logs every invalid UTF-8 string it refuses.
  static const bool quiet = (spdlog::set_level(spdlog::level::off), google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  static FakeApi api;
  static relay::ControlService service(api);
  if (size < 1) return 0;
  const std::uint8_t method = data[0] % 6;
  ++data, --size;
  grpc::ServerContext ctx;
  grpc::Status status;
  switch (method) {
    case 0: {
      pb::AddDestinationRequest req;
      if (!parse(req, data, size) || !numeric_host(req.address())) return 0;
      pb::Destination resp;
      status = service.AddDestination(&ctx, &req, &resp);
      break;
    }
    case 1: {
      pb::RemoveDestinationRequest req;
      if (!parse(req, data, size) || !numeric_host(req.address())) return 0;
      pb::Destination resp;
      status = service.RemoveDestination(&ctx, &req, &resp);
      if (status.ok() && req.has_drain_timeout() && !req.drain()) fail();
      break;
    }
    case 2: {
      pb::GetDestinationRequest req;
      if (!parse(req, data, size) || !numeric_host(req.address())) return 0;
      pb::Destination resp;
      status = service.GetDestination(&ctx, &req, &resp);
      break;
    }
    case 3: {
      pb::WatchStatsRequest req;
      if (!parse(req, data, size)) return 0;
      auto writer = grpc::internal::ServerStreamingHandler<FuzzTag, pb::WatchStatsRequest, pb::Stats>::writer(&ctx);
      status = service.WatchStats(&ctx, &req, &writer);
      const bool accepted =
          status.error_code() == grpc::StatusCode::UNAVAILABLE && status.error_message() == kWatchAccepted;
      if (accepted != interval_valid(req)) fail();
      if (accepted) return 0;
      break;
    }
    case 4: {
      pb::ListDestinationsRequest req;
      if (!parse(req, data, size)) return 0;
      pb::ListDestinationsResponse resp;
      status = service.ListDestinations(&ctx, &req, &resp);
      break;
    }
    default: {
      pb::GetInfoRequest req;
      if (!parse(req, data, size)) return 0;
      pb::Info resp;
      status = service.GetInfo(&ctx, &req, &resp);
      break;
    }
  }
  check_message(status);
  return 0;
}
