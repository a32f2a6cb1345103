// control_convert_test: the proto messages carry exactly relayd's counter tables, and the
// enum translations cover every value both ways.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "control_convert.hpp"
#include "relay_api.hpp"

namespace relay {
namespace {

namespace pb = relay::v1;

#define RELAY_COUNTER_NAME(name, unit, desc) #name,

std::vector<std::string> field_names(const google::protobuf::Descriptor& d) {
  std::vector<std::string> names;
  for (int i = 0; i < d.field_count(); ++i) names.push_back(d.field(i)->name());
  return names;
}

// to_proto fails to compile for a table counter without a field; this catches the converse
// (a field with no counter behind it) and keeps the order identical for readers.
TEST(ControlConvert, DestinationCountersMessageIsTheTable) {
  const std::vector<std::string> table{RELAY_DESTINATION_COUNTERS(RELAY_COUNTER_NAME)};
  EXPECT_EQ(field_names(*pb::DestinationCounters::descriptor()), table);
}

TEST(ControlConvert, ListenerCountersMessageIsTheTable) {
  const std::vector<std::string> table{RELAY_LISTENER_COUNTERS(RELAY_COUNTER_NAME)};
  EXPECT_EQ(field_names(*pb::ListenerCounters::descriptor()), table);
}

TEST(ControlConvert, EveryCounterValueIsCopied) {
  DestinationValues d;
  std::uint64_t v = 1;
#define RELAY_FILL(name, unit, desc) d.name = v++;
  RELAY_DESTINATION_COUNTERS(RELAY_FILL)
#undef RELAY_FILL
  pb::DestinationCounters out;
  to_proto(d, out);
  const auto* desc = pb::DestinationCounters::descriptor();
  const auto* refl = pb::DestinationCounters::GetReflection();
  for (int i = 0; i < desc->field_count(); ++i) {
    EXPECT_EQ(refl->GetUInt64(out, desc->field(i)), static_cast<std::uint64_t>(i + 1)) << desc->field(i)->name();
  }
}

TEST(ControlConvert, FramingRoundTrips) {
  for (Framing f : {Framing::lp32le, Framing::lp32be, Framing::line, Framing::raw}) {
    EXPECT_EQ(framing_from_proto(to_proto(f), "framing"), f);
  }
  EXPECT_EQ(framing_from_proto(pb::FRAMING_UNSPECIFIED, "framing"), std::nullopt);
}

TEST(ControlConvert, EveryProtoFramingIsKnown) {
  const auto* e = pb::Framing_descriptor();
  for (int i = 0; i < e->value_count(); ++i) EXPECT_NO_THROW(framing_from_proto(e->value(i)->number(), "framing"));
}

TEST(ControlConvert, UnknownEnumValuesNameTheField) {
  try {
    framing_from_proto(99, "framing");
    FAIL() << "no throw";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), ApiCode::invalid_argument);
    EXPECT_EQ(e.field(), "framing");
    EXPECT_EQ(std::string(e.what()), "framing: unknown value 99");
  }
  EXPECT_THROW(start_from_proto(-1, "start"), ApiError);
}

TEST(ControlConvert, StartMapping) {
  EXPECT_EQ(start_from_proto(pb::START_UNSPECIFIED, "start"), StartAt::tail);
  EXPECT_EQ(start_from_proto(pb::START_TAIL, "start"), StartAt::tail);
  EXPECT_EQ(start_from_proto(pb::START_HEAD, "start"), StartAt::head);
}

TEST(ControlConvert, EveryStateHasAProtoValue) {
  for (auto s : {DestinationState::connecting, DestinationState::connected, DestinationState::backing_off,
                 DestinationState::draining}) {
    EXPECT_NE(to_proto(s), pb::DESTINATION_STATE_UNSPECIFIED);
  }
}

TEST(ControlConvert, StatsTimeIsSplitIntoSecondsAndNanos) {
  StatsSnapshot s;
  s.unix_ns = 1'700'000'000'123'456'789;
  pb::Stats out;
  to_proto(s, out);
  EXPECT_EQ(out.time().seconds(), 1'700'000'000);
  EXPECT_EQ(out.time().nanos(), 123'456'789);
}

TEST(ControlConvert, IngestWaitIsCopied) {
  StatsSnapshot s;
  s.ingest_wait_seconds = 0.0005;
  pb::Stats out;
  to_proto(s, out);
  EXPECT_DOUBLE_EQ(out.ingest_wait_seconds(), 0.0005);
}

}  // namespace
}  // namespace relay
