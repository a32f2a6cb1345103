// watch_stats_holder: a hostile WatchStats client for hostile_control_test. It opens N streams
// to relayd (spread over several connections), reads the first snapshot of each, prints
// "opened K refused R other O" on stdout and then never reads again: it sleeps until it is
// killed, so relayd's side of every stream it opened is left writing to a reader that is gone
// without a cancel. A separate process so that the test can kill it outright, as a crashed or
// frozen client would be.
//
//   watch_stats_holder HOST:PORT STREAMS CONNECTIONS
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "relay/v1/relay.grpc.pb.h"

namespace {

namespace pb = relay::v1;

struct Stream {
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::ClientReader<pb::Stats>> reader;
};

// Each channel gets its own subchannel pool, hence its own TCP connection.
std::shared_ptr<grpc::Channel> own_connection(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: watch_stats_holder HOST:PORT STREAMS CONNECTIONS\n");
    return 2;
  }
  const std::string target = argv[1];
  const int streams = std::atoi(argv[2]);
  const int connections = std::max(1, std::atoi(argv[3]));
  std::vector<std::unique_ptr<pb::RelayControl::Stub>> stubs;
  for (int i = 0; i < connections; ++i) stubs.push_back(pb::RelayControl::NewStub(own_connection(target)));

  std::vector<Stream> held;  // never read again, never cancelled, never destroyed
  int opened = 0, refused = 0, other = 0;
  for (int i = 0; i < streams; ++i) {
    Stream s{std::make_unique<grpc::ClientContext>(), nullptr};
    pb::WatchStatsRequest req;
    req.mutable_interval()->set_nanos(100'000'000);  // the shortest allowed: fills windows fastest
    s.reader = stubs[static_cast<std::size_t>(i % connections)]->WatchStats(s.ctx.get(), req);
    pb::Stats first;
    if (s.reader->Read(&first)) {
      ++opened;
      held.push_back(std::move(s));
      continue;
    }
    const grpc::Status st = s.reader->Finish();
    if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
    } else {
      ++other;
      std::fprintf(stderr, "WatchStats %d: %d %s\n", i, st.error_code(), st.error_message().c_str());
    }
  }
  std::printf("opened %d refused %d other %d\n", opened, refused, other);
  std::fflush(stdout);
  for (;;) pause();
}
