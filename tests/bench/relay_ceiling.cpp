// relay_ceiling: the trivial UDP receiver that bounds what any relay can ingest on this host.
//
// Binds one UDP socket with the same receive buffer relayd asks for, reads with recvmmsg in big
// batches and throws the data away: no queue, no TCP, no framing. What it receives, at what CPU
// cost, with the generator beside it, is the "ceiling" tests/bench/compare.py measures relays
// against.
//
// Output (stdout, one JSON object a line): {"port":P} once bound; on SIGUSR2
// {"peek":true,"received":N,"idle_ms":M}; on SIGUSR1 the interval's result, after which a new
// interval starts; on SIGTERM/SIGINT the interval's result, then it exits. A result is
// {"received":N,"bytes":B,"kernel_drops":D,"cpu_us":C,"seconds":S,"idle_ms":M}
// (cpu_us: this process's user+system time over the interval, from getrusage).
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "payload.hpp"

namespace {

struct Options {
  std::uint16_t port = 0;
  unsigned batch = 1024;
  std::size_t slot_bytes = 2048;
  int rcvbuf = 32 << 20;
  bool gro = false;  // UDP_GRO: count the datagrams of each coalesced train, as relayd --udp-gro does
};

constexpr int kUdpGro = 104;  // UDP_GRO (linux/udp.h)

// Set by the signal handlers; the loop notices them because recvmmsg returns EINTR (no
// SA_RESTART) or at the latest after the socket's 100 ms receive timeout.
std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal.store(sig); }

void install_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2}) ::sigaction(sig, &sa, nullptr);
}

std::uint64_t cpu_us() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto us = [](const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(tv.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

class Ceiling {
 public:
  explicit Ceiling(const Options& o);
  ~Ceiling() { ::close(fd_); }
  Ceiling(const Ceiling&) = delete;
  Ceiling& operator=(const Ceiling&) = delete;
  int run();

 private:
  void bind_socket();
  void receive_batch();
  void count_drops(const msghdr& h);
  static std::uint64_t datagrams_in(const mmsghdr& m);
  void report();
  void start_interval();
  std::uint64_t idle_ms() const;

  const Options& o_;
  int fd_ = -1;
  std::vector<char> buf_;
  std::vector<iovec> iov_;
  std::vector<mmsghdr> msgs_;
  struct alignas(cmsghdr) Control {
    char bytes[CMSG_SPACE(sizeof(std::uint32_t)) + CMSG_SPACE(sizeof(int))];
  };
  std::vector<Control> control_;
  std::uint64_t received_ = 0, bytes_ = 0, drops_ = 0;
  std::uint32_t last_ovfl_ = 0;  // SO_RXQ_OVFL is a running total per socket
  std::uint64_t cpu0_ = 0, start_ns_ = 0, last_data_ns_ = 0;
};

Ceiling::Ceiling(const Options& o) : o_(o) {
  // Small slots keep the bounce buffer cache-friendly; longer datagrams are truncated, which
  // does not matter for a receiver that discards them (MSG_TRUNC still reports their length).
  const std::size_t kSlot = o.slot_bytes;
  buf_.resize(o.batch * kSlot);
  iov_.resize(o.batch);
  msgs_.resize(o.batch);
  control_.resize(o.batch);
  for (unsigned i = 0; i < o.batch; ++i) {
    iov_[i] = {buf_.data() + i * kSlot, kSlot};
    msgs_[i].msg_hdr.msg_iov = &iov_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
  bind_socket();
}

void Ceiling::bind_socket() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  // The same buffer relayd requests (SO_RCVBUFFORCE as root), so the ceiling differs from relayd
  // only in what happens after recvmmsg.
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &o_.rcvbuf, sizeof o_.rcvbuf) != 0)
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &o_.rcvbuf, sizeof o_.rcvbuf);
  const int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  if (o_.gro && ::setsockopt(fd_, IPPROTO_UDP, kUdpGro, &one, sizeof one) != 0)
    throw std::runtime_error(fmt::format("UDP_GRO: {}", std::strerror(errno)));
  const timeval tv{0, 100'000};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(o_.port);
  socklen_t len = sizeof a;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0)
    throw std::runtime_error(fmt::format("cannot bind 127.0.0.1:{}: {}", o_.port, std::strerror(errno)));
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  std::printf("{\"port\":%u}\n", ntohs(a.sin_port));
  std::fflush(stdout);
}

void Ceiling::count_drops(const msghdr& h) {
  for (const cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL) continue;
    std::uint32_t total = 0;
    std::memcpy(&total, CMSG_DATA(c), sizeof total);
    drops_ += total - last_ovfl_;
    last_ovfl_ = total;
  }
}

// One, or with GRO the train's length over its segment size, rounded up (MSG_TRUNC keeps
// msg_len the full length even when the slot took only its start).
std::uint64_t Ceiling::datagrams_in(const mmsghdr& m) {
  const msghdr& h = m.msg_hdr;
  for (const cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level != IPPROTO_UDP || c->cmsg_type != kUdpGro) continue;
    int segment = 0;
    std::memcpy(&segment, CMSG_DATA(c), sizeof segment);
    if (segment > 0) return (m.msg_len + static_cast<unsigned>(segment) - 1) / static_cast<unsigned>(segment);
  }
  return 1;
}

void Ceiling::receive_batch() {
  for (unsigned i = 0; i < o_.batch; ++i) {
    msgs_[i].msg_hdr.msg_control = control_[i].bytes;
    msgs_[i].msg_hdr.msg_controllen = sizeof control_[i].bytes;
  }
  const int n = ::recvmmsg(fd_, msgs_.data(), o_.batch, MSG_WAITFORONE | MSG_TRUNC, nullptr);
  if (n <= 0) return;  // EINTR (a signal to handle) or the 100 ms timeout
  last_data_ns_ = relay::test::monotonic_ns();
  for (int i = 0; i < n; ++i) {
    received_ += datagrams_in(msgs_[static_cast<std::size_t>(i)]);
    bytes_ += msgs_[static_cast<std::size_t>(i)].msg_len;
  }
  count_drops(msgs_[static_cast<std::size_t>(n - 1)].msg_hdr);
}

std::uint64_t Ceiling::idle_ms() const {
  return last_data_ns_ ? (relay::test::monotonic_ns() - last_data_ns_) / 1'000'000 : 0;
}

void Ceiling::start_interval() {
  received_ = bytes_ = drops_ = 0;
  cpu0_ = cpu_us();
  start_ns_ = relay::test::monotonic_ns();
}

void Ceiling::report() {
  const double seconds = static_cast<double>(relay::test::monotonic_ns() - start_ns_) * 1e-9;
  std::printf("%s\n",
              fmt::format(R"({{"received":{},"bytes":{},"kernel_drops":{},"cpu_us":{},"seconds":{:.3f},"idle_ms":{}}})",
                          received_, bytes_, drops_, cpu_us() - cpu0_, seconds, idle_ms())
                  .c_str());
  std::fflush(stdout);
}

int Ceiling::run() {
  start_interval();
  for (;;) {
    receive_batch();
    const int sig = g_signal.exchange(0);
    if (sig == SIGUSR2) {
      std::printf("{\"peek\":true,\"received\":%llu,\"idle_ms\":%llu}\n", static_cast<unsigned long long>(received_),
                  static_cast<unsigned long long>(idle_ms()));
      std::fflush(stdout);
    } else if (sig == SIGUSR1) {
      report();
      start_interval();
    } else if (sig != 0) {
      report();
      return 0;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"relay_ceiling: receive UDP with recvmmsg and discard; the ingest ceiling for relay benchmarks"};
  Options o;
  app.add_option("--port", o.port, "UDP port on 127.0.0.1, 0 = pick one (printed as {\"port\":P})")
      ->capture_default_str();
  app.add_option("--batch", o.batch, "datagrams per recvmmsg call")
      ->check(CLI::Range(1U, 4096U))
      ->capture_default_str();
  app.add_option("--slot-bytes", o.slot_bytes, "receive buffer per datagram (longer ones are truncated, still counted)")
      ->check(CLI::Range(std::size_t{64}, std::size_t{65536}))
      ->capture_default_str();
  app.add_flag("--gro", o.gro,
               "enable UDP_GRO and count each coalesced train's datagrams (compare with relayd --udp-gro)");
  app.add_option("--rcvbuf", o.rcvbuf, "SO_RCVBUF(FORCE) in bytes (relayd's default: 32 MiB)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  install_handlers();
  try {
    Ceiling c(o);
    return c.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "relay_ceiling: %s\n", e.what());
    return 1;
  }
}
