// Destination groups end to end: the real relayd, real TCP members. A hash@ group splits the
// stream by key (each key to one member, in order), reroutes a down member's keys and counts
// them, and loses nothing when a member crashes mid-stream; failover@ and any@ deliver
// everything once between their members. A group is one destination: one cursor, one line in
// the exit report.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "accounting.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

constexpr std::size_t kKeys = 300;

// A graphite line: "metric.K VALUE TIMESTAMP", the key (the first field) repeating every kKeys
// messages; VALUE is the message's number, so order per key can be checked.
std::string line(std::size_t i) {
  return "relay.test.metric" + std::to_string(i % kKeys) + " " + std::to_string(i) + " 1700000000";
}

std::vector<std::string> lines(std::size_t n) {
  std::vector<std::string> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(line(i));
  return v;
}

std::string key_of(const std::string& m) { return m.substr(0, m.find(' ')); }
std::size_t number_of(const std::string& m) {
  const auto a = m.find(' ');
  return std::stoul(m.substr(a + 1, m.find(' ', a + 1) - a - 1));
}

std::string group(std::string_view mode, const std::vector<const TcpSink*>& members, std::string_view options = "") {
  std::string out(mode);
  char sep = '@';
  for (const auto* m : members) {
    out.push_back(sep);
    out.append("127.0.0.1:").append(std::to_string(m->port()));
    sep = ',';
  }
  out.append("?framing=line");
  if (!options.empty()) out.append("&").append(options);
  return out;
}

std::size_t total(const std::vector<TcpSink*>& sinks) {
  std::size_t n = 0;
  for (const auto* s : sinks) n += s->count();
  return n;
}

// The group's record in the exit report (its address starts with the mode).
StatsRecord group_record(const RelayStats& stats, std::string_view mode) {
  for (const auto& [address, record] : stats.destinations())
    if (address.starts_with(std::string(mode) + "@")) return record;
  ADD_FAILURE() << "no " << mode << "@ destination in the exit report";
  return {};
}

// Every number 0..n-1 received at least once; per sink, each key's numbers only grow, except
// where a new connection began (a resend after a break starts again from an earlier message).
struct Received {
  std::set<std::size_t> numbers;
  std::size_t copies = 0;
  std::size_t out_of_order = 0;
};

Received gather(const std::vector<TcpSink*>& sinks) {
  Received r;
  for (const auto* s : sinks) {
    std::map<std::string, std::size_t> last;
    for (const auto& m : s->messages()) {
      const std::size_t n = number_of(m);
      const std::string k = key_of(m);
      if (last.contains(k) && n <= last[k]) ++r.out_of_order;
      last[k] = n;
      r.numbers.insert(n);
      ++r.copies;
    }
  }
  return r;
}

TEST(GroupTest, HashGroupSendsEachKeyToOneMemberInOrder) {
  constexpr std::size_t kMessages = 6000;
  TcpSink a(Framing::line), b(Framing::line), c(Framing::line);
  const std::vector<TcpSink*> sinks{&a, &b, &c};
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {group("hash", {&a, &b, &c})}));
  ASSERT_TRUE(relayd.wait_ready());
  for (auto* s : sinks) ASSERT_TRUE(s->wait_for_connections(1, 10s)) << "member " << s->port() << " never connected";
  UdpSender sender(relayd.udp_port());
  ASSERT_TRUE(sender.send_paced(lines(kMessages), [&] { return total(sinks); }));
  ASSERT_TRUE(wait_until([&] { return total(sinks) >= kMessages; }, 20s)) << total(sinks) << " of " << kMessages;
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);

  std::map<std::string, std::set<std::uint16_t>> members_of_key;
  for (const auto* s : sinks) {
    for (const auto& m : s->messages()) members_of_key[key_of(m)].insert(s->port());
    // 1/3 of the keys each, within what 300 keys allow (the 10^6-key spread is in shard_test).
    EXPECT_GT(s->count(), kMessages / 6) << "member " << s->port() << " got too few";
    EXPECT_LT(s->count(), kMessages / 2) << "member " << s->port() << " got too many";
  }
  EXPECT_EQ(members_of_key.size(), kKeys);
  for (const auto& [key, members] : members_of_key) EXPECT_EQ(members.size(), 1u) << key << " went to two members";
  const Received r = gather(sinks);
  EXPECT_EQ(r.numbers.size(), kMessages);
  EXPECT_EQ(r.copies, kMessages) << "duplicates without a failure";
  EXPECT_EQ(r.out_of_order, 0u);

  const auto stats = relayd.stats();
  EXPECT_EQ(stats.destinations().size(), 1u) << "a group is one destination";
  const StatsRecord g = group_record(stats, "hash");
  EXPECT_EQ(g.u("sent_messages"), kMessages);
  EXPECT_EQ(g.u("rerouted"), 0u);
  EXPECT_EQ(g.u("connects"), 3u) << "one connection per member, summed";
  expect_exit_report_adds_up(stats, {{relayd.udp_port(), kMessages}});
}

TEST(GroupTest, DownMemberKeysGoToTheOthersAndAreCounted) {
  constexpr std::size_t kMessages = 3000;
  TcpSink a(Framing::line), b(Framing::line);
  TcpSink down(Framing::line);
  down.stop();  // its port refuses connections from now on
  const std::vector<TcpSink*> sinks{&a, &b};
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {group("hash", {&a, &b, &down})}));
  ASSERT_TRUE(relayd.wait_ready());
  for (auto* s : sinks) ASSERT_TRUE(s->wait_for_connections(1, 10s));
  UdpSender sender(relayd.udp_port());
  ASSERT_TRUE(sender.send_paced(lines(kMessages), [&] { return total(sinks); }));
  ASSERT_TRUE(wait_until([&] { return total(sinks) >= kMessages; }, 20s)) << total(sinks) << " of " << kMessages;
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  const Received r = gather(sinks);
  EXPECT_EQ(r.numbers.size(), kMessages);
  EXPECT_EQ(r.out_of_order, 0u);
  const StatsRecord g = group_record(relayd.stats(), "hash");
  EXPECT_EQ(g.u("sent_messages"), kMessages);
  // About a third of the keys are the down member's; each of their messages is counted.
  EXPECT_GT(g.u("rerouted"), kMessages / 6);
  EXPECT_LT(g.u("rerouted"), kMessages / 2);
  EXPECT_GT(g.u("connect_failures"), 0u);
}

// A member crashes mid-stream: what it had not acknowledged is sent again, in order, to the
// members that are up (its keys now theirs). Nothing is lost; duplicates stay within what relayd
// counts as resent.
TEST(GroupTest, MemberCrashLosesNothing) {
  constexpr std::size_t kMessages = 20000;
  TcpSink a(Framing::line), b(Framing::line), c(Framing::line);
  const std::vector<TcpSink*> sinks{&a, &b, &c};
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {group("hash", {&a, &b, &c})}));
  ASSERT_TRUE(relayd.wait_ready());
  for (auto* s : sinks) ASSERT_TRUE(s->wait_for_connections(1, 10s));
  UdpSender sender(relayd.udp_port());
  const auto all = lines(kMessages);
  const std::vector<std::string> first(all.begin(), all.begin() + kMessages / 2);
  const std::vector<std::string> second(all.begin() + kMessages / 2, all.end());
  ASSERT_TRUE(sender.send_paced(
      first, [&] { return total(sinks); }, 256));
  b.stop();  // crash (RST) and stay down
  const std::vector<TcpSink*> alive{&a, &c};
  ASSERT_TRUE(sender.send_paced(
      second, [&] { return total(sinks); }, 256));
  ASSERT_TRUE(wait_until(
      [&] {
        return gather({&a, &b, &c}).numbers.size() >= kMessages;
      },
      30s))
      << gather({&a, &b, &c}).numbers.size() << " of " << kMessages;
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  const Received r = gather(sinks);
  EXPECT_EQ(r.numbers.size(), kMessages) << "lost messages";
  const StatsRecord g = group_record(relayd.stats(), "hash");
  EXPECT_EQ(g.u("sent_messages"), kMessages);
  EXPECT_LE(r.copies - kMessages, g.u("resent_unacked")) << "duplicates beyond what relayd says it resent";
  EXPECT_GT(g.u("rerouted"), 0u);
  EXPECT_GE(g.u("disconnects"), 1u);
}

TEST(GroupTest, FailoverSendsToTheFirstHealthyMember) {
  constexpr std::size_t kMessages = 4000;
  TcpSink primary(Framing::line), standby(Framing::line);
  const std::vector<TcpSink*> sinks{&primary, &standby};
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {group("failover", {&primary, &standby})}));
  ASSERT_TRUE(relayd.wait_ready());
  for (auto* s : sinks) ASSERT_TRUE(s->wait_for_connections(1, 10s));
  UdpSender sender(relayd.udp_port());
  const auto all = lines(kMessages);
  ASSERT_TRUE(sender.send_paced(std::vector<std::string>(all.begin(), all.begin() + kMessages / 2),
                                [&] { return total(sinks); }));
  ASSERT_TRUE(wait_until([&] { return total(sinks) >= kMessages / 2; }, 20s));
  EXPECT_EQ(standby.count(), 0u) << "the standby got messages while the primary was up";
  primary.stop();
  ASSERT_TRUE(sender.send_paced(std::vector<std::string>(all.begin() + kMessages / 2, all.end()),
                                [&] { return total(sinks); }));
  ASSERT_TRUE(wait_until([&] { return gather(sinks).numbers.size() >= kMessages; }, 20s));
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  const Received r = gather(sinks);
  EXPECT_EQ(r.numbers.size(), kMessages);
  EXPECT_EQ(r.out_of_order, 0u);
  EXPECT_GE(standby.count(), kMessages / 2);
  EXPECT_EQ(group_record(relayd.stats(), "failover").u("sent_messages"), kMessages);
}

TEST(GroupTest, AnyGroupDeliversEachMessageOnceBetweenItsMembers) {
  constexpr std::size_t kMessages = 6000;
  TcpSink a(Framing::line), b(Framing::line);
  const std::vector<TcpSink*> sinks{&a, &b};
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {group("any", {&a, &b})}));
  ASSERT_TRUE(relayd.wait_ready());
  for (auto* s : sinks) ASSERT_TRUE(s->wait_for_connections(1, 10s));
  UdpSender sender(relayd.udp_port());
  ASSERT_TRUE(sender.send_paced(
      lines(kMessages), [&] { return total(sinks); }, 512));
  ASSERT_TRUE(wait_until([&] { return total(sinks) >= kMessages; }, 20s));
  relayd.signal(SIGTERM);
  ASSERT_EQ(relayd.wait_exit(20s), 0);
  const Received r = gather(sinks);
  EXPECT_EQ(r.numbers.size(), kMessages);
  EXPECT_EQ(r.copies, kMessages);
  EXPECT_EQ(group_record(relayd.stats(), "any").u("sent_messages"), kMessages);
}

TEST(GroupTest, BadGroupOptionsAreRefusedAtStart) {
  TcpSink a(Framing::line), b(Framing::line);
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {group("hash", {&a, &b}, "replicas=3")}));
  EXPECT_EQ(relayd.wait_exit(10s), 2);
  EXPECT_NE(relayd.log_text().find("replicas=3: expected a number 1..2"), std::string::npos) << relayd.log_text();
}

}  // namespace
}  // namespace relay::test
