// gRPC's log lines through relayd's logger: limited per kind, and the "Failed accept4" line
// (gRPC 1.51's only sign that it stopped accepting) counted for the control server's watchdog.
#include "grpc_log.hpp"

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sstream>

namespace relay {
namespace {

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(GrpcLog, AcceptFailuresAreCountedAndFloodsHeldBack) {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  spdlog::set_default_logger(logger);
  route_grpc_logs();
  grpc_init();  // gRPC reads its log verbosity here; before it, gpr_log prints nothing
  const std::uint64_t before = grpc_accept_failures();
  for (int i = 0; i < 100; ++i) gpr_log(__FILE__, __LINE__, GPR_LOG_SEVERITY_ERROR, "Handshake failed %d", i);
  gpr_log(__FILE__, __LINE__, GPR_LOG_SEVERITY_ERROR, "Failed accept4: Too many open files");
  gpr_log(__FILE__, __LINE__, GPR_LOG_SEVERITY_ERROR, "bad\nline\x1b[31m");
  logger->flush();
  const std::string text = out.str();
  EXPECT_EQ(grpc_accept_failures(), before + 1);
  // 100 handshake lines within a second: one gets through (the limiter's first), the rest are
  // held back and said in the next one allowed.
  EXPECT_EQ(count(text, "grpc: Handshake failed"), 1u) << text;
  EXPECT_EQ(count(text, "grpc: Failed accept4: Too many open files"), 1u) << text;
  // What gRPC repeats from a peer is escaped: no forged line, no terminal escape.
  EXPECT_NE(text.find("grpc: bad\\x0aline\\x1b[31m"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  grpc_shutdown();
  spdlog::set_default_logger(spdlog::stderr_color_mt("restored"));
}

}  // namespace
}  // namespace relay
