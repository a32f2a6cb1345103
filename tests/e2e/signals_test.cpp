// Signals: SIGHUP (operators' "reload") must never stop relayd; without --config it says there is
// nothing to re-read, in one log line, and carries on relaying. SIGTERM after it drains, exits 0.
#include <gtest/gtest.h>
#include <signal.h>

#include "accounting.hpp"
#include "payload.hpp"
#include "relay_args.hpp"
#include "relayd_process.hpp"
#include "tcp_sink.hpp"
#include "timeouts.hpp"
#include "udp_sender.hpp"

namespace relay::test {
namespace {

// Without --config a reload has nothing to read: it says so and relaying goes on.
constexpr const char* kHupLine = "reload: relayd runs without --config, so there is no configuration to read again";

std::size_t hup_lines(const RelaydProcess& relayd) {
  std::size_t n = 0;
  for (const auto& line : relayd.log_lines()) n += line.find(kHupLine) != std::string::npos;
  return n;
}

TEST(SignalsTest, SighupIsLoggedAndRelayingGoesOn) {
  TcpSink sink(Framing::lp32le);
  RelaydProcess relayd(relayd_args("udp@127.0.0.1:0", {destination(sink.port())}));
  ASSERT_TRUE(relayd.wait_ready());
  ASSERT_TRUE(sink.wait_for_connections(1, 10s));
  UdpSender sender(relayd.udp_port());

  relayd.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return hup_lines(relayd) == 1; }, 10s)) << relayd.log_text();
  relayd.signal(SIGHUP);  // a second one is handled the same way: the wait loops
  ASSERT_TRUE(wait_until([&] { return hup_lines(relayd) == 2; }, 10s)) << relayd.log_text();
  EXPECT_TRUE(relayd.running());

  sender.send("after hup");
  ASSERT_TRUE(sink.wait_for_count(1, 10s)) << relayd.log_text();
  EXPECT_EQ(sink.messages().front(), "after hup");

  relayd.signal(SIGTERM);
  EXPECT_EQ(relayd.wait_exit(20s), 0) << relayd.log_text();
  const auto d = relayd.stats().destination(sink.port());
  ASSERT_TRUE(d) << "no final statistics: " << relayd.log_text();
  EXPECT_EQ(d->u("sent_messages"), 1u);
  expect_exit_report_adds_up(relayd.stats(), {{relayd.udp_port(), 1}});
}

}  // namespace
}  // namespace relay::test
