#include "tcp_sink.hpp"

#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "sockets.hpp"
#include "timeouts.hpp"

namespace relay::test {

TcpSink::TcpSink(Options options)
    : framing_(options.framing),
      rcvbuf_(options.rcvbuf),
      read_rate_(options.read_rate),
      port_(options.port),
      decoder_(options.framing),
      paused_(options.paused) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  wake_read_.reset(fds[0]);
  wake_write_.reset(fds[1]);
  if (options.start) start();
}

TcpSink::~TcpSink() { stop(); }

void TcpSink::listen_socket() {
  listen_fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  const int one = 1;
  ::setsockopt(listen_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Set on the listener so accepted sockets inherit it from the handshake on (window scaling).
  if (rcvbuf_ > 0) ::setsockopt(listen_fd_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof rcvbuf_);
  const SocketAddress a = make_address("127.0.0.1", port_);
  if (::bind(listen_fd_.get(), a.get(), a.len) != 0 || ::listen(listen_fd_.get(), 16) != 0)
    throw std::system_error(errno, std::generic_category(), "TcpSink listen on port " + std::to_string(port_));
  port_ = local_port(listen_fd_.get());
}

void TcpSink::start() {
  if (thread_.joinable()) return;
  listen_socket();
  {
    std::lock_guard lock(mu_);
    running_ = true;
    command_ = Command::none;
  }
  thread_ = std::thread([this] { run(); });
}

void TcpSink::stop() {
  if (!thread_.joinable()) return;
  send_command(Command::stop);
  thread_.join();
}

void TcpSink::close_connection() { send_command(Command::close_connection); }

void TcpSink::pause() {
  std::lock_guard lock(mu_);
  paused_ = true;
}

void TcpSink::resume() {
  {
    std::lock_guard lock(mu_);
    paused_ = false;
  }
  const char b = 0;
  [[maybe_unused]] auto n = ::write(wake_write_.get(), &b, 1);  // wake poll so reading resumes now
}

// Commands run on the sink thread, which owns the sockets; the caller waits until it is done
// so "after close_connection() returns, the connection is gone" holds.
void TcpSink::send_command(Command c) {
  std::unique_lock lock(mu_);
  if (!running_) return;
  command_ = c;
  const char b = 1;
  [[maybe_unused]] auto n = ::write(wake_write_.get(), &b, 1);
  if (!cv_.wait_for(lock, scaled(10s), [&] { return command_ == Command::none || !running_; }))
    ADD_FAILURE() << "TcpSink thread did not process a command within 10 s";
}

void TcpSink::run() {
  for (;;) {
    bool paused;
    {
      std::lock_guard lock(mu_);
      paused = paused_;
    }
    pollfd fds[2] = {{wake_read_.get(), POLLIN, 0}, {-1, POLLIN, 0}};
    const int throttled = conn_fd_ ? throttle_wait_ms() : 0;
    // One connection at a time: the listener is only watched while none is open.
    fds[1].fd = conn_fd_ ? (paused || throttled > 0 ? -1 : conn_fd_.get()) : listen_fd_.get();
    // The timeout only re-checks `paused` and the throttle; commands arrive through the wake pipe.
    if (::poll(fds, 2, throttled > 0 ? std::min(throttled, 50) : 50) < 0 && errno != EINTR) break;
    if ((fds[0].revents & POLLIN) && !handle_wake()) return;
    if (fds[1].revents == 0) continue;
    if (conn_fd_)
      read_some();
    else
      accept_one();
  }
}

// Returns false when told to stop (after cleaning up).
bool TcpSink::handle_wake() {
  char buf[64];
  while (::read(wake_read_.get(), buf, sizeof buf) > 0) {}
  std::lock_guard lock(mu_);
  if (command_ == Command::close_connection) abort_connection();
  if (command_ == Command::stop) {
    abort_connection();
    listen_fd_.reset();
    running_ = false;
  }
  command_ = Command::none;
  cv_.notify_all();
  return running_;
}

// Caller holds mu_.
void TcpSink::abort_connection() {
  if (!conn_fd_) return;
  if (decoder_.pending() > 0) ++discarded_partials_;
  discarded_bytes_.push_back(unread_locked() + decoder_.pending());
  decoder_.reset();
  abort_close(conn_fd_);
}

void TcpSink::accept_one() {
  const int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  std::lock_guard lock(mu_);
  conn_fd_.reset(fd);
  decoder_.reset();
  connection_starts_.push_back(messages_.size());
  cv_.notify_all();
}

int TcpSink::throttle_wait_ms() const {
  if (read_rate_ == 0) return 0;
  const auto left = next_read_ - std::chrono::steady_clock::now();
  return left <= left.zero() ? 0 : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

void TcpSink::read_some() {
  static thread_local std::string buf(256 * 1024, '\0');
  // Throttled: 10 ms worth of the rate per read, then a pause as long as those bytes take.
  const std::size_t want = read_rate_ == 0 ? buf.size() : std::clamp<std::size_t>(read_rate_ / 100, 1, buf.size());
  const ssize_t n = ::recv(conn_fd_.get(), buf.data(), want, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return on_peer_closed();
  if (read_rate_ > 0)
    next_read_ =
        std::chrono::steady_clock::now() +
        std::chrono::nanoseconds(static_cast<std::int64_t>(n) * 1'000'000'000 / static_cast<std::int64_t>(read_rate_));
  std::lock_guard lock(mu_);
  const bool ok = decoder_.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)), [&](std::string_view m) {
    byte_count_ += m.size();
    if (framing_ == Framing::raw)
      bytes_.append(m);
    else
      messages_.emplace_back(m);
  });
  if (!ok) {
    // Lost sync: nothing after this point can be trusted, so drop the connection.
    ++framing_errors_;
    decoder_.reset();
    abort_close(conn_fd_);
  }
  cv_.notify_all();
}

void TcpSink::on_peer_closed() {
  std::lock_guard lock(mu_);
  if (decoder_.pending() > 0) ++framing_errors_;  // relayd closed in the middle of a frame
  decoder_.reset();
  conn_fd_.reset();
  cv_.notify_all();
}

bool TcpSink::listening() const {
  std::lock_guard lock(mu_);
  return running_;
}

std::vector<std::string> TcpSink::messages() const {
  std::lock_guard lock(mu_);
  return messages_;
}

std::string TcpSink::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::size_t TcpSink::count() const {
  std::lock_guard lock(mu_);
  return messages_.size();
}

std::size_t TcpSink::byte_count() const {
  std::lock_guard lock(mu_);
  return byte_count_;
}

std::size_t TcpSink::connections() const {
  std::lock_guard lock(mu_);
  return connection_starts_.size();
}

std::vector<std::size_t> TcpSink::connection_starts() const {
  std::lock_guard lock(mu_);
  return connection_starts_;
}

std::size_t TcpSink::framing_errors() const {
  std::lock_guard lock(mu_);
  return framing_errors_;
}

std::size_t TcpSink::discarded_partials() const {
  std::lock_guard lock(mu_);
  return discarded_partials_;
}

bool TcpSink::wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, scaled(timeout), done);
}

bool TcpSink::wait_for_count(std::size_t n, std::chrono::milliseconds timeout) {
  return wait_for([&] { return messages_.size() >= n; }, timeout);
}

bool TcpSink::wait_for_bytes(std::size_t n, std::chrono::milliseconds timeout) {
  return wait_for([&] { return byte_count_ >= n; }, timeout);
}

bool TcpSink::wait_for_connections(std::size_t n, std::chrono::milliseconds timeout) {
  return wait_for([&] { return connection_starts_.size() >= n; }, timeout);
}

std::size_t TcpSink::unread_locked() const {
  int n = 0;
  if (!conn_fd_ || ::ioctl(conn_fd_.get(), SIOCINQ, &n) != 0 || n < 0) return 0;
  return static_cast<std::size_t>(n);
}

std::size_t TcpSink::unread_bytes() const {
  std::lock_guard lock(mu_);
  return unread_locked();
}

std::vector<std::size_t> TcpSink::discarded_bytes() const {
  std::lock_guard lock(mu_);
  return discarded_bytes_;
}

}  // namespace relay::test
