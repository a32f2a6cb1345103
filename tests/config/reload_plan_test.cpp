// reload_plan: a re-read configuration's difference, judged whole before anything changes.
#include <gtest/gtest.h>

#include "reload_plan.hpp"

namespace relay {
namespace {

using Addresses = std::vector<std::string>;

TEST(ReloadPlan, TheSameConfigurationChangesNothing) {
  const Config c;
  const Addresses d{"tcp@127.0.0.1:2009", "tcp@127.0.0.1:2010?framing=line"};
  const ReloadPlan p = plan_reload(c, d, c, d);
  EXPECT_TRUE(p.changes_nothing());
  EXPECT_TRUE(p.restart.empty());
}

TEST(ReloadPlan, NewPeersAreAddedGonePeersRemovedChangedOnesReplaced) {
  const Config c;
  const Addresses running{"tcp@127.0.0.1:1", "tcp@127.0.0.1:2", "tcp@127.0.0.1:3"};
  const Addresses next{"tcp@127.0.0.1:3", "tcp@127.0.0.1:2?framing=line", "tcp@127.0.0.1:4"};
  const ReloadPlan p = plan_reload(c, running, c, next);
  EXPECT_EQ(p.remove, (Addresses{"tcp@127.0.0.1:1", "tcp@127.0.0.1:2"}));
  EXPECT_EQ(p.add, (Addresses{"tcp@127.0.0.1:2?framing=line", "tcp@127.0.0.1:4"}));
  EXPECT_TRUE(p.applied.empty());
}

// A changed group takes over from the removed group of its kind it shares the most members with;
// one sharing none with any is added at the tail, and other kinds are never paired.
TEST(ReloadPlan, AChangedGroupReplacesTheOneItSharesMostMembersWith) {
  const Config c;
  const Addresses running{"hash@127.0.0.1:1,127.0.0.1:2", "hash@127.0.0.1:5,127.0.0.1:6", "any@127.0.0.1:7",
                          "tcp@127.0.0.1:9"};
  const Addresses next{"hash@127.0.0.1:5,127.0.0.1:6,127.0.0.1:8?key=payload", "hash@127.0.0.1:30,127.0.0.1:31",
                       "failover@127.0.0.1:7", "tcp@127.0.0.1:9?framing=line"};
  const ReloadPlan p = plan_reload(c, running, c, next);
  ASSERT_EQ(p.replace.size(), 1u);
  EXPECT_EQ(p.replace[0].from, "hash@127.0.0.1:5,127.0.0.1:6");
  EXPECT_EQ(p.replace[0].to, "hash@127.0.0.1:5,127.0.0.1:6,127.0.0.1:8?key=payload");
  EXPECT_EQ(p.remove, (Addresses{"hash@127.0.0.1:1,127.0.0.1:2", "any@127.0.0.1:7", "tcp@127.0.0.1:9"}));
  EXPECT_EQ(p.add,
            (Addresses{"hash@127.0.0.1:30,127.0.0.1:31", "failover@127.0.0.1:7", "tcp@127.0.0.1:9?framing=line"}));
  EXPECT_FALSE(p.changes_nothing());
}

TEST(ReloadPlan, TheLogLevelChangesInPlaceOtherSettingsWaitForARestart) {
  Config a, b;
  b.log_level = "debug";
  b.queue.max_queue_bytes = a.queue.max_queue_bytes * 2;
  b.client.max_destinations = 8;
  b.metrics = "127.0.0.1:9108";
  const ReloadPlan p = plan_reload(a, {}, b, {});
  EXPECT_EQ(p.applied, (Addresses{"log.level: info -> debug"}));
  EXPECT_EQ(p.restart, (Addresses{"queue.max_bytes", "delivery.max_destinations", "metrics.address"}));
  EXPECT_TRUE(p.add.empty() && p.remove.empty());
}

TEST(ReloadPlan, ListenersAreComparedByTheirCanonicalText) {
  Config a, b;
  a.listen.push_back(parse_endpoint("udp@127.0.0.1:2008", false));
  b.listen.push_back(parse_endpoint("udp@[::ffff:127.0.0.1]:2008", false));  // the same listener
  EXPECT_TRUE(plan_reload(a, {}, b, {}).restart.empty());
  EXPECT_TRUE(plan_reload(a, {}, b, {}).changes_nothing());
  b.listen.push_back(parse_endpoint("udp@127.0.0.1:2009", false));
  const ReloadPlan p = plan_reload(a, {}, b, {});
  EXPECT_TRUE(p.restart.empty());
  EXPECT_EQ(p.add_listeners, (Addresses{"udp@127.0.0.1:2009"}));
  EXPECT_TRUE(p.remove_listeners.empty());
  EXPECT_FALSE(p.changes_nothing());
}

TEST(ReloadPlan, GoneListenersAreRemovedAndChangedOnesReplaced) {
  Config a, b;
  a.listen = {parse_endpoint("udp@127.0.0.1:2008", false), parse_endpoint("tcp@127.0.0.1:2009", false)};
  b.listen = {parse_endpoint("tcp@127.0.0.1:2009", false), parse_endpoint("udp@127.0.0.1:2010", false)};
  const ReloadPlan p = plan_reload(a, {}, b, {});
  EXPECT_EQ(p.remove_listeners, (Addresses{"udp@127.0.0.1:2008"}));
  EXPECT_EQ(p.add_listeners, (Addresses{"udp@127.0.0.1:2010"}));
}

TEST(ReloadPlan, ConnectionLimitsChangeInPlace) {
  Config a, b;
  b.ingest.max_connections = 10;
  b.ingest.idle_timeout = 30;
  const ReloadPlan p = plan_reload(a, {}, b, {});
  EXPECT_EQ(p.applied, (Addresses{"ingest.max_connections: 1024 -> 10", "ingest.idle_timeout: 300 -> 30"}));
  EXPECT_TRUE(p.restart.empty());
}

TEST(ReloadPlan, TimingAndTheStatsIntervalChangeInPlace) {
  Config a, b;
  b.client.destination.reconnect_min = 0.5;
  b.client.destination.reconnect_max = 2;
  b.client.destination.connect_timeout = 1;
  b.drain_timeout = 30;
  b.background.stats_interval = 0;
  const ReloadPlan p = plan_reload(a, {}, b, {});
  EXPECT_EQ(p.applied, (Addresses{"delivery.reconnect_min: 0.1 -> 0.5", "delivery.reconnect_max: 10 -> 2",
                                  "delivery.connect_timeout: 5 -> 1", "delivery.drain_timeout: 5 -> 30",
                                  "log.stats_interval: 60 -> 0"}));
  EXPECT_TRUE(p.restart.empty());
}

}  // namespace
}  // namespace relay
