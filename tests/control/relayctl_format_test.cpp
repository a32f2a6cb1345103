// relayctl_format_test: relayctl's parsing and formatting helpers.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "counter_fields.hpp"
#include "duration.hpp"
#include "output.hpp"
#include "rates.hpp"
#include "table.hpp"
#include "units.hpp"

namespace relayctl {
namespace {

namespace pb = relay::v1;
using namespace std::chrono_literals;

TEST(Duration, ParsesUnitsAndPlainSeconds) {
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("2s"), 2000ms);
  EXPECT_EQ(parse_duration("1m"), 60000ms);
  EXPECT_EQ(parse_duration("1h"), 3600000ms);
  EXPECT_EQ(parse_duration("3"), 3000ms);
  EXPECT_EQ(parse_duration("0.25"), 250ms);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("0"), 0ms);
}

TEST(Duration, RefusesGarbage) {
  for (const char* bad : {"", "s", "ms", "-1s", "1x", "1 s", "abc", "1e400", "nan", "99999h"}) {
    EXPECT_THROW(parse_duration(bad), std::invalid_argument) << bad;
    EXPECT_FALSE(duration_error(bad).empty()) << bad;
  }
  EXPECT_TRUE(duration_error("5s").empty());
}

TEST(Duration, ToProto) {
  google::protobuf::Duration d;
  set_duration(d, 2500ms);
  EXPECT_EQ(d.seconds(), 2);
  EXPECT_EQ(d.nanos(), 500'000'000);
}

TEST(Units, Bytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.0 KiB");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(256.0 * 1024 * 1024), "256.0 MiB");
  EXPECT_EQ(format_bytes(3.0 * 1024 * 1024 * 1024), "3.0 GiB");
  EXPECT_EQ(format_bytes(5.0 * 1024 * 1024 * 1024 * 1024 * 1024), "5120.0 TiB");
  EXPECT_EQ(format_byte_rate(2048), "2.0 KiB/s");
}

TEST(Units, RatesSecondsUptime) {
  EXPECT_EQ(format_message_rate(1234.56), "1234.6 msg/s");
  EXPECT_EQ(format_seconds(0.0123), "0.012 s");
  EXPECT_EQ(format_uptime(59.9), "59s");
  EXPECT_EQ(format_uptime(61), "1m01s");
  EXPECT_EQ(format_uptime(3723.4), "1h02m03s");
  EXPECT_EQ(format_uptime(90061), "1d01h01m");
  EXPECT_EQ(format_uptime(-5), "0s");
}

TEST(Table, AlignsColumns) {
  Table t({{"ID", Align::right}, {"NAME"}, {"N", Align::right}});
  t.add_row({"1", "alpha", "100"});
  t.add_row({"12", "b", "7"});
  t.add_row({"3"});  // short rows print empty cells
  std::ostringstream out;
  t.print(out);
  EXPECT_EQ(out.str(),
            "ID  NAME     N\n"
            " 1  alpha  100\n"
            "12  b        7\n"
            " 3\n");
}

TEST(Output, EnumWords) {
  EXPECT_EQ(framing_name(pb::FRAMING_LP32LE), "lp32le");
  EXPECT_EQ(state_name(pb::DESTINATION_STATE_BACKING_OFF), "backing-off");
}

TEST(Output, CounterUnits) {
  EXPECT_EQ(format_counter(5, "messages"), "5 messages");
  EXPECT_EQ(format_counter(2048, "bytes"), "2.0 KiB");
}

TEST(Output, JsonUsesProtoFieldNamesAndPrintsZeros) {
  pb::Destination d;
  d.set_id(3);
  std::ostringstream out;
  print_json(out, d);
  const std::string json = out.str();
  EXPECT_NE(json.find("\"id\":\"3\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"lag_messages\":\"0\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"last_error\":\"\""), std::string::npos) << json;
  EXPECT_EQ(json.back(), '\n');
  EXPECT_EQ(json.find('\n'), json.size() - 1);  // one line
}

TEST(Output, DestinationShowsEveryCounter) {
  pb::Destination d;
  d.set_address("tcp@127.0.0.1:9000");
  std::ostringstream out;
  print_destination(out, d);
  for (const auto& f : kDestinationCounterFields) EXPECT_NE(out.str().find(f.name), std::string::npos) << f.name;
}

TEST(Output, ColumnTitleIsTheUpperCasedName) {
  EXPECT_EQ(column_title("dropped_queue_full"), "DROPPED_QUEUE_FULL");
  EXPECT_EQ(column_title("max_queue_bytes"), "MAX_QUEUE_BYTES");
}

TEST(CounterFields, CoverTheTables) {
  EXPECT_EQ(kDestinationCounterFields.size(),
            static_cast<std::size_t>(pb::DestinationCounters::descriptor()->field_count()));
  EXPECT_EQ(kListenerCounterFields.size(), static_cast<std::size_t>(pb::ListenerCounters::descriptor()->field_count()));
}

pb::Stats snapshot(std::int64_t seconds, std::uint64_t received, std::uint64_t sent) {
  pb::Stats s;
  s.mutable_time()->set_seconds(seconds);
  s.mutable_received()->set_received_messages(received);
  s.mutable_received()->set_received_bytes(received * 100);
  auto* l = s.add_listeners();
  l->set_address("udp@127.0.0.1:2008");
  l->mutable_counters()->set_received_messages(received);
  auto* d = s.add_destinations();
  d->set_id(1);
  d->mutable_counters()->set_sent_messages(sent);
  d->mutable_counters()->set_sent_bytes(sent * 104);
  return s;
}

TEST(Rates, PerSecondBetweenSnapshots) {
  auto prev = snapshot(100, 1000, 900);
  auto cur = snapshot(102, 3000, 2900);
  auto* added = cur.add_destinations();
  added->set_id(2);
  const auto r = compute_rates(prev, cur);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->received);
  EXPECT_DOUBLE_EQ(r->received->messages, 1000);
  EXPECT_DOUBLE_EQ(r->received->bytes, 100000);
  EXPECT_DOUBLE_EQ(r->listeners.at("udp@127.0.0.1:2008").messages, 1000);
  EXPECT_DOUBLE_EQ(r->destinations.at(1).messages, 1000);
  EXPECT_DOUBLE_EQ(r->destinations.at(1).bytes, 104000);
  EXPECT_FALSE(r->destinations.contains(2));  // new: no previous value
}

TEST(Rates, NoneWithoutTimePassingAndNeverNegative) {
  EXPECT_FALSE(compute_rates(snapshot(100, 1, 1), snapshot(100, 2, 2)));
  const auto r = compute_rates(snapshot(100, 5000, 5000), snapshot(101, 10, 10));  // relayd restarted
  ASSERT_TRUE(r);
  EXPECT_EQ(r->received->messages, 0);
}

TEST(Output, StatsWithRatesHasRateColumns) {
  const auto prev = snapshot(100, 1000, 900);
  const auto cur = snapshot(101, 2000, 1900);
  const auto r = compute_rates(prev, cur);
  std::ostringstream with, without;
  print_stats(with, cur, &*r);
  print_stats(without, cur);
  EXPECT_NE(with.str().find("1000.0 msg/s"), std::string::npos) << with.str();
  EXPECT_EQ(without.str().find("msg/s"), std::string::npos) << without.str();
  const StatsRates none;  // watch mode's first snapshot: the columns, no values
  std::ostringstream first;
  print_stats(first, cur, &none);
  for (const char* rate : {"RECEIVED_MESSAGES/s", "RECEIVED_BYTES/s", "SENT_MESSAGES/s", "SENT_BYTES/s"}) {
    EXPECT_NE(first.str().find(rate), std::string::npos) << rate << '\n' << first.str();
  }
  EXPECT_EQ(first.str().find("msg/s"), std::string::npos) << first.str();
}

// Every counter of the table is a column, titled by its name: a counter added to the table needs
// no edit in relayctl to show up.
TEST(Output, TablesHaveAColumnPerCounter) {
  const auto s = snapshot(100, 1000, 900);
  std::ostringstream stats, list;
  print_stats(stats, s);
  pb::ListDestinationsResponse l;
  *l.add_destinations() = s.destinations(0);
  print_destinations(list, l);
  for (const auto& f : kListenerCounterFields) {
    EXPECT_NE(stats.str().find(column_title(f.name)), std::string::npos) << f.name << '\n' << stats.str();
  }
  for (const auto& f : kDestinationCounterFields) {
    EXPECT_NE(stats.str().find(column_title(f.name)), std::string::npos) << f.name << '\n' << stats.str();
    EXPECT_NE(list.str().find(column_title(f.name)), std::string::npos) << f.name << '\n' << list.str();
  }
  for (const char* other :
       {"ID", "ADDRESS", "FRAMING", "STATE", "ORIGIN", "CURSOR", "LAG_MESSAGES", "LAG_SECONDS", "LAST_ERROR"}) {
    EXPECT_NE(list.str().find(other), std::string::npos) << other << '\n' << list.str();
  }
  EXPECT_TRUE(list.str().starts_with("ID  ADDRESS")) << list.str();
}

TEST(Output, TheDataDirectoryGetsItsOwnTableOnlyWhenThereIsOne) {
  pb::Stats s;
  std::ostringstream without;
  print_stats(without, s);
  EXPECT_EQ(without.str().find("MAX_DISK_BYTES"), std::string::npos) << without.str();
  s.mutable_queue()->set_max_disk_bytes(1u << 30);
  s.mutable_queue()->set_disk_bytes_in_use(3u << 20);
  s.mutable_queue()->set_recovered_messages(1234);
  s.mutable_queue()->set_damaged_messages(7);
  std::ostringstream with;
  print_stats(with, s);
  EXPECT_TRUE(std::regex_search(
      with.str(), std::regex("DISK_BYTES_IN_USE +MAX_DISK_BYTES +SYNC_ERRORS +RECOVERED_MESSAGES +DAMAGED_MESSAGES\n"
                             " +3\\.0 MiB +1\\.0 GiB +0 +1234 +7\n")))
      << with.str();
}

TEST(Output, QueueAndInfoSayMaxQueueBytes) {
  pb::Stats s = snapshot(100, 1000, 900);
  s.mutable_queue()->set_max_queue_bytes(256u << 20);
  s.mutable_queue()->set_bytes_in_use(3u << 20);
  std::ostringstream stats;
  print_stats(stats, s);
  EXPECT_TRUE(std::regex_search(stats.str(),
                                std::regex("BYTES_IN_USE +MAX_QUEUE_BYTES +EVICTIONS\n.* 3\\.0 MiB +256\\.0 MiB +0\n")))
      << stats.str();
  pb::Info info;
  info.mutable_limits()->set_max_queue_bytes(256u << 20);
  auto* l = info.add_listeners();
  l->set_address("udp@127.0.0.1:2008");
  l->set_rcvbuf_granted_bytes(64 << 20);
  std::ostringstream out;
  print_info(out, info);
  EXPECT_TRUE(std::regex_search(out.str(), std::regex("\nmax_queue_bytes +256\\.0 MiB\n"))) << out.str();
  EXPECT_NE(out.str().find("udp@127.0.0.1:2008 (rcvbuf_granted_bytes 64.0 MiB)"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace relayctl
