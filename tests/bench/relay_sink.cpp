// relay_sink: a verifying TCP destination for relayd benchmarks.
//
// Accepts any number of connections (epoll), decodes each with --framing, checks order and
// measures latency across all of them as ONE stream (one relay_sink per relayd destination;
// a reconnect continues the stream). Prints {"port":P} once listening, and one JSON result line
// on SIGTERM/SIGINT, after --expect N messages, or after --idle-exit seconds without data
// (counted from the first message, so a sink started early does not give up before traffic).
//
// Long-lived use (tests/bench/compare.py runs many trials through one relay and one sink):
// SIGUSR2 prints {"peek":true,"received":N,"idle_ms":M} (is the stream still flowing?), SIGUSR1
// prints the full result line for everything since the last SIGUSR1 and starts a new interval.
//
// --tls-cert/--tls-key: every connection is a TLS server session (non-blocking OpenSSL), for
// relayd's tls@ destinations; the decoded plaintext is checked the same way.
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>
#include <memory>

#include "frame_decoder.hpp"
#include "payload.hpp"
#include "stream_checker.hpp"

namespace {

using relay::test::FrameDecoder;
using relay::test::Framing;

struct Options {
  std::uint16_t port = 0;
  std::string framing = "lp32le";
  std::string format = "seq";
  std::uint64_t expect = 0;
  double idle_exit = 0;
  int rcvbuf = 0;
  std::string tls_cert, tls_key;  // both set: speak TLS
};

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};

// One accepted connection: its decoder and, with --tls-cert, its TLS session.
struct Conn {
  std::unique_ptr<FrameDecoder> decoder;
  std::unique_ptr<SSL, SslDeleter> ssl;
};

std::unique_ptr<SSL_CTX, SslCtxDeleter> server_context(const Options& o) {
  if (o.tls_cert.empty()) return nullptr;
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx || SSL_CTX_use_certificate_chain_file(ctx.get(), o.tls_cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), o.tls_key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error("cannot load --tls-cert/--tls-key");
  return ctx;
}

class Sink {
 public:
  Sink(const Options& o, Framing framing)
      : o_(o),
        framing_(framing),
        checker_(o.format == "graphite" ? relay::bench::PayloadFormat::graphite : relay::bench::PayloadFormat::seq),
        tls_(server_context(o)) {}
  int run();

 private:
  void setup();
  void accept_all();
  void read_from(int fd);
  void read_tls(int fd, Conn& c);
  bool feed(int fd, Conn& c, const char* data, std::size_t n);
  void close_conn(int fd);
  bool done() const;
  int timeout_ms() const;
  void report() const;
  void peek() const;
  void on_signal();
  std::uint64_t idle_ms() const;

  const Options& o_;
  Framing framing_;
  int listen_fd_ = -1, epoll_fd_ = -1, signal_fd_ = -1;
  std::map<int, Conn> conns_;
  relay::bench::StreamChecker checker_;
  std::unique_ptr<SSL_CTX, SslCtxDeleter> tls_;
  std::uint64_t connections_ = 0, framing_errors_ = 0;
  std::uint64_t last_data_ns_ = 0;
  bool stop_ = false;
};

void Sink::setup() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC);
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (o_.rcvbuf > 0) ::setsockopt(listen_fd_, SOL_SOCKET, SO_RCVBUF, &o_.rcvbuf, sizeof o_.rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(o_.port);
  socklen_t len = sizeof a;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(listen_fd_, 64) != 0)
    throw std::runtime_error(fmt::format("cannot listen on 127.0.0.1:{}: {}", o_.port, std::strerror(errno)));
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  std::printf("{\"port\":%u}\n", ntohs(a.sin_port));
  std::fflush(stdout);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  for (int fd : {listen_fd_, signal_fd_}) {
    epoll_event ev{EPOLLIN, {.fd = fd}};
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
}

void Sink::accept_all() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    ++connections_;
    Conn& c = conns_[fd];
    c.decoder = std::make_unique<FrameDecoder>(framing_);
    if (tls_) {
      c.ssl.reset(SSL_new(tls_.get()));
      SSL_set_fd(c.ssl.get(), fd);
      SSL_set_accept_state(c.ssl.get());  // the first SSL_read shakes hands
    }
    epoll_event ev{EPOLLIN, {.fd = fd}};
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
}

void Sink::close_conn(int fd) {
  if (conns_[fd].decoder->pending() > 0) ++framing_errors_;  // the stream ended inside a frame
  ::close(fd);                                               // also removes it from the epoll set
  conns_.erase(fd);
}

// False when the connection was closed on a framing error.
bool Sink::feed(int fd, Conn& c, const char* data, std::size_t n) {
  // One clock read per read(): latency resolution is one buffer, cheap at high rates.
  const std::uint64_t now = relay::test::monotonic_ns();
  last_data_ns_ = now;
  if (c.decoder->feed(std::string_view(data, n), [&](std::string_view m) { checker_.on_message(m, now); })) return true;
  ++framing_errors_;
  c.decoder->reset();
  close_conn(fd);
  return false;
}

void Sink::read_from(int fd) {
  static std::string buf(1 << 20, '\0');
  Conn& c = conns_[fd];
  if (c.ssl) return read_tls(fd, c);
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) return close_conn(fd);
    if (!feed(fd, c, buf.data(), static_cast<std::size_t>(n))) return;
    if (static_cast<std::size_t>(n) < buf.size()) return;  // drained; level-triggered epoll brings us back
  }
}

// Records until the session wants more bytes (the handshake runs inside the first reads).
void Sink::read_tls(int fd, Conn& c) {
  static std::string buf(1 << 16, '\0');
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(c.ssl.get(), buf.data(), static_cast<int>(buf.size()));
    if (n <= 0) {
      const int code = SSL_get_error(c.ssl.get(), n);
      if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return;
      ERR_clear_error();
      return close_conn(fd);
    }
    if (!feed(fd, c, buf.data(), static_cast<std::size_t>(n))) return;
  }
}

bool Sink::done() const {
  if (stop_) return true;
  if (o_.expect && checker_.received >= o_.expect) return true;
  return o_.idle_exit > 0 && last_data_ns_ &&
         static_cast<double>(relay::test::monotonic_ns() - last_data_ns_) * 1e-9 >= o_.idle_exit;
}

int Sink::timeout_ms() const { return o_.idle_exit > 0 ? 50 : -1; }

std::uint64_t Sink::idle_ms() const {
  return last_data_ns_ ? (relay::test::monotonic_ns() - last_data_ns_) / 1'000'000 : 0;
}

void Sink::peek() const {
  std::printf("{\"peek\":true,\"received\":%llu,\"idle_ms\":%llu}\n",
              static_cast<unsigned long long>(checker_.received), static_cast<unsigned long long>(idle_ms()));
  std::fflush(stdout);
}

void Sink::on_signal() {
  signalfd_siginfo si{};
  if (::read(signal_fd_, &si, sizeof si) != static_cast<ssize_t>(sizeof si)) return;
  if (si.ssi_signo == SIGUSR2) return peek();
  if (si.ssi_signo != SIGUSR1) {
    stop_ = true;
    return;
  }
  report();
  checker_.reset();
  framing_errors_ = 0;
}

void Sink::report() const {
  const double seconds = static_cast<double>(checker_.last_ns - checker_.first_ns) * 1e-9;
  const auto& h = checker_.latency;
  std::printf("%s\n",
              fmt::format(R"({{"received":{},"bytes":{},"gaps":{},"reordered":{},"unparsable":{},"connections":{},)"
                          R"("framing_errors":{},"seconds":{:.3f},"rate":{:.0f},"lat_p50_us":{},"lat_p99_us":{},)"
                          R"("lat_p999_us":{},"lat_max_us":{},"idle_ms":{}}})",
                          checker_.received, checker_.bytes, checker_.gaps, checker_.reordered, checker_.unparsable,
                          connections_, framing_errors_, seconds,
                          seconds > 0 ? static_cast<double>(checker_.received) / seconds : 0.0, h.quantile(0.5),
                          h.quantile(0.99), h.quantile(0.999), h.max(), idle_ms())
                  .c_str());
  std::fflush(stdout);
}

int Sink::run() {
  setup();
  epoll_event events[64];
  while (!done()) {
    const int n = ::epoll_wait(epoll_fd_, events, 64, timeout_ms());
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == signal_fd_)
        on_signal();
      else if (fd == listen_fd_)
        accept_all();
      else if (conns_.count(fd))
        read_from(fd);
    }
  }
  report();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"relay_sink: verifying TCP sink for relayd benchmarks"};
  Options o;
  app.add_option("--port", o.port, "port on 127.0.0.1, 0 = pick one (printed as {\"port\":P})")->capture_default_str();
  app.add_option("--framing", o.framing, "stream framing")
      ->check(CLI::IsMember({"lp32le", "lp32be", "line"}))
      ->capture_default_str();
  app.add_option("--format", o.format, "payloads: seq (relay_gen's default) or graphite (relay_gen --format graphite)")
      ->check(CLI::IsMember({"seq", "graphite"}))
      ->capture_default_str();
  app.add_option("--expect", o.expect, "exit after N messages");
  app.add_option("--idle-exit", o.idle_exit, "exit after SECONDS without data (after the first message)");
  app.add_option("--rcvbuf", o.rcvbuf, "SO_RCVBUF for connections (0 = kernel autotuning)");
  auto* cert = app.add_option("--tls-cert", o.tls_cert, "serve TLS with this PEM certificate (chain)");
  app.add_option("--tls-key", o.tls_key, "the PEM key of --tls-cert")->needs(cert);
  cert->needs(app.get_option("--tls-key"));
  CLI11_PARSE(app, argc, argv);
  try {
    Sink sink(o, *relay::test::parse_framing(o.framing));
    return sink.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "relay_sink: %s\n", e.what());
    return 1;
  }
}
