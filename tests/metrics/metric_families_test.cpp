// metric_families: every counter of the table is exported exactly once per listener and
// destination, under a Prometheus-conventional name, with the reasons as labels.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "metric_families.hpp"

namespace relay::metrics {
namespace {

constexpr const char* kListener = "udp@127.0.0.1:2008";
constexpr const char* kDestination = "tcp@127.0.0.1:2009";
constexpr std::uint64_t kListenerBase = 1000;  // counter i of the listener holds 1000 + i
constexpr std::uint64_t kDestinationBase = 2000;

#define RELAY_COUNT(name, unit, desc) +1
constexpr std::size_t kListenerCounters = 0 RELAY_LISTENER_COUNTERS(RELAY_COUNT);
constexpr std::size_t kDestinationCounters = 0 RELAY_DESTINATION_COUNTERS(RELAY_COUNT);
#undef RELAY_COUNT

StatsSnapshot sample() {
  StatsSnapshot s;
  ListenerSnapshot l;
  l.address = kListener;
  std::uint64_t i = kListenerBase;
#define RELAY_SET(name, unit, desc) l.counters.name = i++;
  RELAY_LISTENER_COUNTERS(RELAY_SET)
  s.listeners.push_back(l);
  DestinationSnapshot d;
  d.address = kDestination;
  d.state = DestinationState::connected;
  d.lag_messages = 7;
  d.cursor = 93;
  auto& c = d.counters;
  i = kDestinationBase;
#define RELAY_SET_D(name, unit, desc) c.name = i++;
  RELAY_DESTINATION_COUNTERS(RELAY_SET_D)
#undef RELAY_SET
#undef RELAY_SET_D
  s.destinations.push_back(d);
  s.queue.tail = 100;
  s.queue.head = 40;
  s.queue.items = 60;
  return s;
}

struct Sample {
  std::string family, labels;
  double value;
};

std::vector<Sample> samples(const std::vector<prometheus::MetricFamily>& families) {
  std::vector<Sample> out;
  for (const auto& f : families)
    for (const auto& m : f.metric) {
      std::string labels;
      for (const auto& l : m.label) labels += l.name + "=" + l.value + ",";
      out.push_back({f.name, labels, f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value});
    }
  return out;
}

TEST(MetricFamilies, EveryCounterOfTheTableIsExportedOnceWithItsValue) {
  const auto all = samples(metric_families(sample(), "1.2.3"));
  std::multiset<double> listener_values, destination_values;
  for (const auto& s : all) {
    if (!s.family.ends_with("_total")) continue;
    if (s.labels.find(std::string("listener=") + kListener) != std::string::npos) listener_values.insert(s.value);
    if (s.labels.find(std::string("destination=") + kDestination) != std::string::npos)
      destination_values.insert(s.value);
  }
  ASSERT_EQ(listener_values.size(), kListenerCounters);
  ASSERT_EQ(destination_values.size(), kDestinationCounters);
  for (std::uint64_t i = 0; i < kListenerCounters; ++i)
    EXPECT_EQ(listener_values.count(double(kListenerBase + i)), 1u) << "listener counter #" << i;
  for (std::uint64_t i = 0; i < kDestinationCounters; ++i)
    EXPECT_EQ(destination_values.count(double(kDestinationBase + i)), 1u) << "destination counter #" << i;
}

TEST(MetricFamilies, DropsShareOneFamilyWithAReasonLabel) {
  const StatsSnapshot s = sample();
  std::map<std::string, double> by_key;
  for (const auto& x : samples(metric_families(s, "1.2.3"))) by_key[x.family + "{" + x.labels + "}"] = x.value;
  const std::string l = std::string("listener=") + kListener + ",";
  EXPECT_EQ(by_key.at("relay_listener_dropped_messages_total{" + l + "reason=oversized,}"),
            double(s.listeners[0].counters.dropped_oversized));
  EXPECT_EQ(by_key.at("relay_listener_dropped_messages_total{" + l + "reason=kernel,}"),
            double(s.listeners[0].counters.kernel_drops));
  EXPECT_EQ(by_key.at("relay_listener_received_messages_total{" + l + "}"),
            double(s.listeners[0].counters.received_messages));
  const std::string d = std::string("destination=") + kDestination + ",";
  EXPECT_EQ(by_key.at("relay_destination_dropped_messages_total{" + d + "reason=lagging,}"),
            double(s.destinations[0].counters.dropped_lagging));
  EXPECT_EQ(by_key.at("relay_destination_sent_messages_total{" + d + "}"),
            double(s.destinations[0].counters.sent_messages));
  EXPECT_EQ(by_key.at("relay_destination_lag_messages{" + d + "}"), 7);
  EXPECT_EQ(by_key.at("relay_destination_state{" + d + "state=connected,}"), 1);
  EXPECT_EQ(by_key.at("relay_destination_state{" + d + "state=backing_off,}"), 0);
  EXPECT_EQ(by_key.at("relay_queue_messages{}"), 60);
  EXPECT_EQ(by_key.at("relay_build_info{version=1.2.3,}"), 1);
}

TEST(MetricFamilies, NamesFollowPrometheusConventions) {
  const std::regex name("relay_[a-z_]+");
  std::set<std::string> seen;
  for (const auto& f : metric_families(sample(), "1.2.3")) {
    EXPECT_TRUE(std::regex_match(f.name, name)) << f.name;
    EXPECT_TRUE(seen.insert(f.name).second) << f.name << " appears as two families";
    EXPECT_EQ(f.type == prometheus::MetricType::Counter, f.name.ends_with("_total")) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
  }
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, metric_families(sample(), "1.2.3"));
  EXPECT_NE(text.str().find("# HELP relay_listener_dropped_messages_total messages dropped, by reason: empty = "),
            std::string::npos)
      << text.str();
}

TEST(MetricFamilies, AnEmptyRelayStillExportsTheQueueAndProcessFamilies) {
  const auto families = metric_families(StatsSnapshot{}, "x");
  std::set<std::string> names;
  for (const auto& f : families) names.insert(f.name);
  for (const char* n : {"relay_build_info", "relay_uptime_seconds", "relay_queue_tail", "relay_queue_bytes",
                        "relay_queue_evictions_total"})
    EXPECT_TRUE(names.count(n)) << n;
}

}  // namespace
}  // namespace relay::metrics
