// relay_gen: UDP load generator for relayd. Sends fixed-size datagrams at a paced rate (token
// bucket) in sendmmsg + UDP GSO batches and prints its achieved rate as one JSON line:
//   {"sent":N,"seconds":S,"rate":R,"gso":true|false}
// Deterministic: the same options (and --seed) always produce the same byte stream, apart from
// the timestamps it carries.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "payload.hpp"
#include "token_bucket.hpp"
#include "udp_batch_sender.hpp"

namespace {

struct Options {
  std::string target;
  std::size_t size = 64;
  double rate = 0;
  std::uint64_t count = 0;
  double duration = 0;
  std::string format = "seq";
  std::size_t batch = 256;
  bool no_gso = false;
  bool newline = false;
  std::uint64_t seed = 1;
};

// splitmix64: a fixed, seedable spread of the graphite metric names (no libc rand state).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// graphite: "bench.m<k>.t<mono ns> <seq> <unix seconds>\n" (k: one of 1000 names, spread by the
// seed), padded with spaces before the '\n' to the fixed size GSO needs (carbon-c-relay
// normalises whitespace). The value is the sequence number and the path carries the send time,
// so relay_sink --format graphite can check order and latency through any graphite relay.
std::size_t write_graphite(char* out, std::uint64_t seq, std::uint64_t ts_ns, std::int64_t unix_s, std::uint64_t seed,
                           std::size_t size) {
  char line[128];
  const auto r = fmt::format_to_n(line, sizeof line, "bench.m{}.t{} {} {}", mix(seed ^ seq) % 1000, ts_ns, seq, unix_s);
  const std::size_t n = std::min({r.size, sizeof line, size - 1});
  std::memcpy(out, line, n);
  std::memset(out + n, ' ', size - 1 - n);
  out[size - 1] = '\n';
  return size;
}

double now_s() { return static_cast<double>(relay::test::monotonic_ns()) * 1e-9; }

int run(const Options& o) {
  const bool graphite = o.format == "graphite";
  const std::size_t min_size = graphite ? 64 : relay::test::kPayloadHeader + (o.newline ? 1 : 0);
  const std::size_t size = std::max(o.size, min_size);
  relay::bench::UdpBatchSender sender(o.target, size, !o.no_gso, o.batch);
  // Burst: a few batches or 5 ms of traffic, whichever is more, so sleep overshoot is made up
  // by the next batches instead of lowering the average rate.
  relay::bench::TokenBucket bucket(o.rate, std::max(4.0 * static_cast<double>(sender.capacity()), o.rate / 200));
  const double start = now_s();
  std::uint64_t seq = 0;
  while ((o.count == 0 || seq < o.count) && (o.duration <= 0 || now_s() - start < o.duration)) {
    std::size_t n = sender.capacity();
    if (o.count) n = static_cast<std::size_t>(std::min<std::uint64_t>(n, o.count - seq));
    bucket.take(static_cast<double>(n));
    const std::uint64_t ts = relay::test::monotonic_ns();
    const auto unix_s = static_cast<std::int64_t>(::time(nullptr));
    for (std::size_t i = 0; i < n; ++i) {
      char* slot = sender.slot(i);
      if (graphite) {
        write_graphite(slot, seq + i, ts, unix_s, o.seed, size);
      } else {
        relay::test::write_payload(slot, seq + i, ts, size);
        // Byte-stream relays (socat) keep no boundaries: the '\n' lets a line sink split them.
        if (o.newline) slot[size - 1] = '\n';
      }
    }
    const std::size_t sent = sender.send(n);
    seq += sent;
    if (sent < n) {
      std::fprintf(stderr, "relay_gen: send failed after %llu datagrams: %s\n", static_cast<unsigned long long>(seq),
                   std::strerror(errno));
      break;
    }
  }
  const double seconds = now_s() - start;
  std::printf("%s\n", fmt::format(R"({{"sent":{},"seconds":{:.3f},"rate":{:.0f},"gso":{}}})", seq, seconds,
                                  seconds > 0 ? static_cast<double>(seq) / seconds : 0.0, sender.gso())
                          .c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"relay_gen: UDP load generator for relayd"};
  Options o;
  app.add_option("--target", o.target, "HOST:PORT to send to ([v6]:PORT for IPv6)")->required();
  app.add_option("--size", o.size, "datagram size in bytes (seq: at least 34, graphite: at least 64)")
      ->capture_default_str();
  app.add_option("--rate", o.rate, "messages per second, 0 = as fast as possible")->capture_default_str();
  auto* count = app.add_option("--count", o.count, "stop after N messages");
  app.add_option("--duration", o.duration, "stop after SECONDS")->excludes(count);
  app.add_option("--format", o.format, "seq (ordered, timestamped payloads) or graphite (plaintext lines)")
      ->check(CLI::IsMember({"seq", "graphite"}))
      ->capture_default_str();
  app.add_option("--batch", o.batch, "datagrams per send call")->capture_default_str();
  app.add_flag("--no-gso", o.no_gso, "do not use UDP GSO, one datagram per sendmmsg entry");
  app.add_flag("--newline", o.newline,
               "seq format: end every payload with '\\n' (for byte-stream relays and line sinks)");
  app.add_option("--seed", o.seed, "seed of the graphite metric-name spread")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (o.count == 0 && o.duration <= 0) {
    std::fprintf(stderr, "relay_gen: one of --count or --duration is required\n");
    return 2;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "relay_gen: %s\n", e.what());
    return 1;
  }
}
