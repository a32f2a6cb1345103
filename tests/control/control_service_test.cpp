// control_service_test: the gRPC service over a fake RelayApi — status mapping, request
// validation, lookup by address, deadlines, WatchStats streaming and cancellation.
#include <gtest/gtest.h>

#include <thread>

#include "control_fixture.hpp"

namespace relay::test {
namespace {

namespace pb = relay::v1;
using namespace std::chrono_literals;

class ControlServiceTest : public ControlFixture {
 protected:
  pb::Destination add(const std::string& address, grpc::Status* status = nullptr) {
    pb::AddDestinationRequest req;
    req.set_address(address);
    pb::Destination resp;
    auto s = stub_->AddDestination(ctx().get(), req, &resp);
    if (status)
      *status = s;
    else
      EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  grpc::Status add_status(const pb::AddDestinationRequest& req) {
    pb::Destination resp;
    return stub_->AddDestination(ctx().get(), req, &resp);
  }
  grpc::Status get(const pb::GetDestinationRequest& req, pb::Destination* resp) {
    return stub_->GetDestination(ctx().get(), req, resp);
  }
  grpc::Status remove(const pb::RemoveDestinationRequest& req, pb::Destination* resp = nullptr) {
    pb::Destination ignored;
    return stub_->RemoveDestination(ctx().get(), req, resp ? resp : &ignored);
  }
};

TEST_F(ControlServiceTest, AddReturnsTheDestination) {
  const auto d = add("tcp@127.0.0.1:9000?framing=line");
  EXPECT_EQ(d.id(), 1u);
  EXPECT_EQ(d.address(), "tcp@127.0.0.1:9000?framing=line");
  EXPECT_EQ(d.framing(), pb::FRAMING_LINE);
  EXPECT_EQ(d.state(), pb::DESTINATION_STATE_CONNECTING);
  EXPECT_TRUE(d.has_counters());
}

TEST_F(ControlServiceTest, AddPassesFramingOverrideAndStart) {
  pb::AddDestinationRequest req;
  req.set_address("tcp@127.0.0.1:9000");
  req.set_framing(pb::FRAMING_RAW);
  req.set_start(pb::START_HEAD);
  ASSERT_TRUE(add_status(req).ok());
  const auto seen = api_.last_add();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->address, "tcp@127.0.0.1:9000");
  EXPECT_EQ(seen->framing, Framing::raw);
  EXPECT_EQ(seen->start, StartAt::head);
}

TEST_F(ControlServiceTest, AddDefaultsToNoOverrideAndTail) {
  add("tcp@127.0.0.1:9000");
  const auto seen = api_.last_add();
  ASSERT_TRUE(seen);
  EXPECT_FALSE(seen->framing);
  EXPECT_EQ(seen->start, StartAt::tail);
}

TEST_F(ControlServiceTest, AddRefusesMissingAddress) {
  const auto s = add_status({});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "address: required");
  EXPECT_FALSE(api_.last_add());  // refused before reaching the relay
}

TEST_F(ControlServiceTest, AddRefusesUnknownEnumValues) {
  pb::AddDestinationRequest req;
  req.set_address("tcp@127.0.0.1:9000");
  req.set_framing(static_cast<pb::Framing>(42));
  auto s = add_status(req);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(s.error_message().starts_with("framing: ")) << s.error_message();

  req.set_framing(pb::FRAMING_UNSPECIFIED);
  req.set_start(static_cast<pb::Start>(7));
  s = add_status(req);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(s.error_message().starts_with("start: ")) << s.error_message();
}

TEST_F(ControlServiceTest, AddMapsAnEndpointErrorToInvalidArgumentOnAddress) {
  grpc::Status s;
  add("tcp@nonsense", &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(s.error_message().starts_with("address: ")) << s.error_message();
}

struct CodeCase {
  ApiCode api;
  grpc::StatusCode grpc;
};

class StatusMappingTest : public ControlServiceTest, public ::testing::WithParamInterface<CodeCase> {};

TEST_P(StatusMappingTest, ApiErrorBecomesItsStatusCode) {
  api_.fail_next(ApiError(GetParam().api, "refused for the test"));
  grpc::Status s;
  add("tcp@127.0.0.1:9000", &s);
  EXPECT_EQ(s.error_code(), GetParam().grpc);
  EXPECT_EQ(s.error_message(), "refused for the test");
}

INSTANTIATE_TEST_SUITE_P(AllCodes, StatusMappingTest,
                         ::testing::Values(CodeCase{ApiCode::invalid_argument, grpc::StatusCode::INVALID_ARGUMENT},
                                           CodeCase{ApiCode::already_exists, grpc::StatusCode::ALREADY_EXISTS},
                                           CodeCase{ApiCode::not_found, grpc::StatusCode::NOT_FOUND},
                                           CodeCase{ApiCode::resource_exhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
                                           CodeCase{ApiCode::deadline_exceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
                                           CodeCase{ApiCode::unavailable, grpc::StatusCode::UNAVAILABLE},
                                           CodeCase{ApiCode::internal, grpc::StatusCode::INTERNAL}));

TEST_F(ControlServiceTest, ApiErrorMessageIsPrefixedWithItsField) {
  api_.fail_next(ApiError(ApiCode::invalid_argument, "port 0 is not allowed", "address"));
  grpc::Status s;
  add("tcp@127.0.0.1:9000", &s);
  EXPECT_EQ(s.error_message(), "address: port 0 is not allowed");

  api_.fail_next(ApiError(ApiCode::invalid_argument, "address: already named", "address"));
  add("tcp@127.0.0.1:9000", &s);
  EXPECT_EQ(s.error_message(), "address: already named");  // not named twice
}

TEST_F(ControlServiceTest, AddTwiceIsAlreadyExists) {
  add("tcp@127.0.0.1:9000");
  grpc::Status s;
  add("tcp@127.0.0.1:9000", &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(ControlServiceTest, ClientDeadlineIsPassedOn) {
  pb::AddDestinationRequest req;
  req.set_address("tcp@127.0.0.1:9000");
  pb::Destination resp;
  const auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(stub_->AddDestination(ctx(3s).get(), req, &resp).ok());
  const auto left = api_.last_deadline() - before;
  EXPECT_GT(left, 2s);
  EXPECT_LE(left, 3s + 100ms);
}

TEST_F(ControlServiceTest, NoClientDeadlineMeansTheDefault) {
  pb::AddDestinationRequest req;
  req.set_address("tcp@127.0.0.1:9000");
  pb::Destination resp;
  grpc::ClientContext no_deadline;
  const auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(stub_->AddDestination(&no_deadline, req, &resp).ok());
  const auto left = api_.last_deadline() - before;
  EXPECT_GE(left, ControlService::kDefaultDeadline - 1s);
  EXPECT_LE(left, ControlService::kDefaultDeadline + 1s);
}

TEST_F(ControlServiceTest, GetById) {
  const auto added = add("tcp@127.0.0.1:9000");
  pb::GetDestinationRequest req;
  req.set_id(added.id());
  pb::Destination d;
  ASSERT_TRUE(get(req, &d).ok());
  EXPECT_EQ(d.address(), "tcp@127.0.0.1:9000");

  req.set_id(99);
  const auto s = get(req, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "no destination id 99");
}

TEST_F(ControlServiceTest, GetByAddressMatchesTheCanonicalForm) {
  const auto added = add("tcp@[::1]:9000?framing=raw");
  pb::GetDestinationRequest req;
  pb::Destination d;
  for (const char* spelling : {"tcp@[0:0::1]:9000", "tcp@[::1]:9000?framing=raw"}) {
    req.set_address(spelling);
    const auto s = get(req, &d);
    ASSERT_TRUE(s.ok()) << spelling << ": " << s.error_message();
    EXPECT_EQ(d.id(), added.id());
  }
  req.set_address("tcp@[::1]:9000?framing=line");  // a framing that is not its own
  EXPECT_EQ(get(req, &d).error_code(), grpc::StatusCode::NOT_FOUND);
  req.set_address("tcp@[::1]:9001");
  EXPECT_EQ(get(req, &d).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ControlServiceTest, GetRefusesMissingOrBadTarget) {
  pb::Destination d;
  auto s = get({}, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(s.error_message().starts_with("target: ")) << s.error_message();

  pb::GetDestinationRequest req;
  req.set_address("");
  s = get(req, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "address: required");

  req.set_address("bogus");
  s = get(req, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(s.error_message().starts_with("address: ")) << s.error_message();
}

TEST_F(ControlServiceTest, RemoveByAddressPassesTheIdAndDrain) {
  add("tcp@127.0.0.1:9000");
  const auto second = add("tcp@127.0.0.1:9001");
  pb::RemoveDestinationRequest req;
  req.set_address("tcp@127.0.0.1:9001");
  req.set_drain(true);
  req.mutable_drain_timeout()->set_seconds(2);
  req.mutable_drain_timeout()->set_nanos(500'000'000);
  pb::Destination gone;
  ASSERT_TRUE(remove(req, &gone).ok());
  EXPECT_EQ(gone.id(), second.id());
  const auto seen = api_.last_remove();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->id, second.id());
  EXPECT_TRUE(seen->drain);
  EXPECT_EQ(seen->drain_timeout, 2500ms);
  EXPECT_EQ(api_.destinations().size(), 1u);
}

TEST_F(ControlServiceTest, RemoveDefaultsDrainTimeout) {
  const auto d = add("tcp@127.0.0.1:9000");
  pb::RemoveDestinationRequest req;
  req.set_id(d.id());
  req.set_drain(true);
  ASSERT_TRUE(remove(req).ok());
  EXPECT_EQ(api_.last_remove()->drain_timeout, RemoveDestinationRequest{}.drain_timeout);
}

TEST_F(ControlServiceTest, RemoveValidatesDrainTimeout) {
  const auto d = add("tcp@127.0.0.1:9000");
  pb::RemoveDestinationRequest req;
  req.set_id(d.id());
  req.mutable_drain_timeout()->set_seconds(1);
  auto s = remove(req);  // without drain
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(s.error_message().starts_with("drain_timeout: ")) << s.error_message();

  req.set_drain(true);
  req.mutable_drain_timeout()->set_seconds(-1);
  s = remove(req);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "drain_timeout: must not be negative");
  EXPECT_FALSE(api_.last_remove());
}

TEST_F(ControlServiceTest, RemoveUnknownIsNotFound) {
  pb::RemoveDestinationRequest req;
  req.set_id(5);
  EXPECT_EQ(remove(req).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(remove({}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ControlServiceTest, ListIsOrderedById) {
  DestinationSnapshot a, b;
  a.id = 7;
  a.address = "tcp@127.0.0.1:7";
  b.id = 3;
  b.address = "tcp@127.0.0.1:3";
  api_.put(a);
  api_.put(b);
  pb::ListDestinationsResponse resp;
  ASSERT_TRUE(stub_->ListDestinations(ctx().get(), {}, &resp).ok());
  ASSERT_EQ(resp.destinations_size(), 2);
  EXPECT_EQ(resp.destinations(0).id(), 3u);
  EXPECT_EQ(resp.destinations(1).id(), 7u);
}

TEST_F(ControlServiceTest, GetStatsCarriesEveryPart) {
  StatsSnapshot s;
  s.uptime_seconds = 42;
  s.received.received_messages = 1000;
  ListenerSnapshot l;
  l.address = "udp@127.0.0.1:2008";
  l.rcvbuf_granted_bytes = 4 << 20;
  l.counters.kernel_drops = 5;
  s.listeners.push_back(l);
  s.queue.tail = 1000;
  s.queue.reclaim_point = 900;
  s.queue.max_queue_bytes = 1 << 20;
  api_.set_stats(s);
  DestinationSnapshot d;
  d.id = 1;
  d.counters.sent_bytes = 77;
  d.lag_messages = 100;
  api_.put(d);

  pb::Stats resp;
  ASSERT_TRUE(stub_->GetStats(ctx().get(), {}, &resp).ok());
  EXPECT_GT(resp.time().seconds(), 1'600'000'000);
  EXPECT_EQ(resp.uptime_seconds(), 42);
  EXPECT_EQ(resp.received().received_messages(), 1000u);
  ASSERT_EQ(resp.listeners_size(), 1);
  EXPECT_EQ(resp.listeners(0).rcvbuf_granted_bytes(), 4 << 20);
  EXPECT_EQ(resp.listeners(0).counters().kernel_drops(), 5u);
  EXPECT_EQ(resp.queue().tail(), 1000u);
  EXPECT_EQ(resp.queue().reclaim_point(), 900u);
  ASSERT_EQ(resp.destinations_size(), 1);
  EXPECT_EQ(resp.destinations(0).counters().sent_bytes(), 77u);
  EXPECT_EQ(resp.destinations(0).lag_messages(), 100u);
}

TEST_F(ControlServiceTest, GetInfo) {
  pb::Info info;
  ASSERT_TRUE(stub_->GetInfo(ctx().get(), {}, &info).ok());
  EXPECT_EQ(info.version(), "9.8.7");
  EXPECT_EQ(info.limits().max_message_bytes(), 65507u);
  EXPECT_EQ(info.limits().max_destinations(), 64u);
  EXPECT_EQ(info.limits().max_queue_bytes(), 256u << 20);
}

TEST_F(ControlServiceTest, WatchStatsStreamsAtTheInterval) {
  pb::WatchStatsRequest req;
  req.mutable_interval()->set_nanos(100'000'000);
  auto c = ctx(10s);
  auto stream = stub_->WatchStats(c.get(), req);
  pb::Stats msg;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(stream->Read(&msg)) << i;
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 250ms);  // the first is immediate, then three intervals
  EXPECT_LT(took, 2s);
  c->TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ControlServiceTest, WatchStatsRefusesATooShortInterval) {
  pb::WatchStatsRequest req;
  req.mutable_interval()->set_nanos(10'000'000);
  auto c = ctx();
  auto stream = stub_->WatchStats(c.get(), req);
  pb::Stats msg;
  EXPECT_FALSE(stream->Read(&msg));
  const auto s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "interval: must be at least 100ms");
}

// The status a WatchStats call with `interval` ends with, after at most `reads` snapshots.
grpc::Status watch_status(pb::RelayControl::Stub& stub, std::int64_t seconds, std::int32_t nanos, int* reads) {
  pb::WatchStatsRequest req;
  req.mutable_interval()->set_seconds(seconds);
  req.mutable_interval()->set_nanos(nanos);
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + 10s);
  auto stream = stub.WatchStats(&c, req);
  pb::Stats msg;
  *reads = stream->Read(&msg) ? 1 : 0;
  if (*reads == 1) c.TryCancel();  // accepted: one snapshot is enough to know
  return stream->Finish();
}

struct BadInterval {
  std::string name;
  std::int64_t seconds;
  std::int32_t nanos;
  std::string message;
};

void PrintTo(const BadInterval& b, std::ostream* os) { *os << b.name; }

class WatchIntervalTest : public ControlFixture, public ::testing::WithParamInterface<BadInterval> {};

TEST_P(WatchIntervalTest, IsRefusedNamingInterval) {
  int reads = 0;
  const auto s = watch_status(*stub_, GetParam().seconds, GetParam().nanos, &reads);
  EXPECT_EQ(reads, 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(s.error_message(), GetParam().message);
}

const std::string kInvalidDuration =
    "interval: not a valid Duration (nanos must be within +-999999999 and have the sign of seconds)";

INSTANTIATE_TEST_SUITE_P(
    Cases, WatchIntervalTest,
    ::testing::Values(BadInterval{"one_nanosecond", 0, 1, "interval: must be at least 100ms"},
                      BadInterval{"fifty_ms", 0, 50'000'000, "interval: must be at least 100ms"},
                      BadInterval{"just_below_100ms", 0, 99'999'999, "interval: must be at least 100ms"},
                      BadInterval{"negative", -1, 0, "interval: must not be negative"},
                      BadInterval{"negative_nanos", 0, -200'000'000, "interval: must not be negative"},
                      BadInterval{"nanos_two_seconds", 0, 2'000'000'000, kInvalidDuration},
                      BadInterval{"nanos_one_second", 1, 1'000'000'000, kInvalidDuration},
                      BadInterval{"negative_nanos_positive_seconds", 1, -1, kInvalidDuration},
                      BadInterval{"positive_nanos_negative_seconds", -1, 1, kInvalidDuration}),
    [](const auto& p) { return p.param.name; });

TEST_F(ControlServiceTest, WatchStatsAcceptsTheMinimumAndZero) {
  for (const auto& [seconds, nanos] : {std::pair<std::int64_t, std::int32_t>{0, 100'000'000}, {0, 0}, {1, 500}}) {
    int reads = 0;
    const auto s = watch_status(*stub_, seconds, nanos, &reads);
    EXPECT_EQ(reads, 1) << seconds << "s " << nanos << "ns: " << s.error_message();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED) << seconds << "s " << nanos << "ns";
  }
}

TEST_F(ControlServiceTest, WatchStatsStopsWhenTheClientCancels) {
  pb::WatchStatsRequest req;
  req.mutable_interval()->set_nanos(100'000'000);
  auto c = ctx(10s);
  auto stream = stub_->WatchStats(c.get(), req);
  pb::Stats msg;
  ASSERT_TRUE(stream->Read(&msg));
  c->TryCancel();
  stream->Finish();
  // The handler notices within a poll slice and stops taking snapshots.
  std::this_thread::sleep_for(300ms);
  const int after_cancel = api_.stats_calls();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(api_.stats_calls(), after_cancel);
}

TEST_F(ControlServiceTest, ShutdownEndsWatchStatsPromptly) {
  pb::WatchStatsRequest req;
  req.mutable_interval()->set_seconds(60);  // it would otherwise sleep a minute
  auto c = ctx(30s);
  auto stream = stub_->WatchStats(c.get(), req);
  pb::Stats msg;
  ASSERT_TRUE(stream->Read(&msg));
  const auto start = std::chrono::steady_clock::now();
  server_->shutdown(5s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_FALSE(stream->Read(&msg));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace relay::test
