#include "unix_listener.hpp"

#include <fcntl.h>
#include <grp.h>
#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "clock.hpp"
#include "thread_name.hpp"
#include "unix_peer.hpp"

namespace relay {

namespace {

// Names each bind's private path within this process.
std::atomic<std::uint64_t> private_names{0};  // relaxed: only uniqueness matters

std::string errno_text(int err) { return std::system_category().message(err); }

// The socket file's group and mode as configured; the reason when they cannot be set.
std::string set_owner_and_mode(const std::string& path, const ControlOptions& o) {
  if (!o.socket_group.empty()) {
    std::vector<char> buf(16384);
    group g{};
    group* found = nullptr;
    if (getgrnam_r(o.socket_group.c_str(), &g, buf.data(), buf.size(), &found) != 0 || found == nullptr)
      return "no group named " + o.socket_group;
    if (chown(path.c_str(), static_cast<uid_t>(-1), found->gr_gid) != 0)
      return "cannot give the socket to group " + o.socket_group + ": " + errno_text(errno);
  }
  if (chmod(path.c_str(), o.socket_mode) != 0) return "cannot set the socket's mode: " + errno_text(errno);
  return {};
}

// A private name next to `path`, so that link() can claim path atomically on the same file system.
std::string private_name(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, std::max<std::size_t>(slash, 1));
  return (dir == "/" ? "" : dir) + "/.relayd-control-" + std::to_string(getpid()) + "-" +
         std::to_string(private_names.fetch_add(1, std::memory_order_relaxed) + 1);
}

}  // namespace

// Nobody can connect before listen(), and listen() follows the chmod: the socket is never open
// to more than its mode allows, whatever relayd's umask.
UnixListener::UnixListener(std::string address, std::string path, const ControlOptions& options)
    : address_(std::move(address)), path_(std::move(path)) {
  auto fail = [&](const std::string& why) {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    throw std::runtime_error("cannot listen for control on " + address_ + ": " + why);
  };
  const std::string tmp = private_name(path_);
  sockaddr_un un{};
  if (path_.size() >= sizeof un.sun_path || tmp.size() >= sizeof un.sun_path) fail("the path is too long");
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, tmp.c_str(), tmp.size() + 1);
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail("cannot create a socket: " + errno_text(errno));
  if (bind(fd_, reinterpret_cast<const sockaddr*>(&un), sizeof un) != 0)
    fail("cannot bind the socket (does its directory exist and is it writable?): " + errno_text(errno));
  if (const std::string why = set_owner_and_mode(tmp, options); !why.empty()) {
    unlink(tmp.c_str());
    fail(why);
  }
  if (listen(fd_, SOMAXCONN) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    fail("cannot listen: " + errno_text(err));
  }
  const int linked = link(tmp.c_str(), path_.c_str());
  const int link_errno = errno;
  unlink(tmp.c_str());
  struct stat st {};
  if (linked != 0 || stat(path_.c_str(), &st) != 0) {
    close(fd_);
    fd_ = -1;
    if (link_errno == EEXIST) throw std::runtime_error("another relayd is serving control on " + address_);
    fail(errno_text(link_errno));
  }
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_ < 0) {
    const int err = errno;
    release_path();
    fail("cannot create an eventfd: " + errno_text(err));
  }
}

UnixListener::~UnixListener() {
  stop();
  if (fd_ >= 0) close(fd_);
  if (wake_ >= 0) close(wake_);
  release_path();
}

void UnixListener::start(grpc::Server& server) {
  if (thread_.joinable()) return;
  thread_ = std::thread([this, &server] {
    name_this_thread("control-accept");
    run(server);
  });
}

void UnixListener::stop() {
  if (!thread_.joinable()) return;
  const std::uint64_t one = 1;
  if (write(wake_, &one, sizeof one) < 0) {}  // cannot fail short of a full counter, which one write never makes
  thread_.join();
}

bool UnixListener::wait_stop(std::chrono::milliseconds timeout) {
  pollfd p{wake_, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

void UnixListener::run(grpc::Server& server) {
  for (;;) {
    pollfd p[2] = {{wake_, POLLIN, 0}, {fd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      accept_failed(errno);
      if (wait_stop(kAcceptRetry)) return;
      continue;
    }
    if (p[0].revents != 0) return;
    while (accept_one(server)) {}
  }
}

namespace {

// gRPC needs descriptors of its own to take on a connection (its wake-up fds); handed one with
// none left, its error path uses freed memory (an ASan/UBSan report in unix_peer_test's flood).
// So a connection is only handed over while this many more could still be opened.
constexpr int kSpareDescriptors = 16;

bool descriptors_to_spare(int any_fd) {
  int probe[kSpareDescriptors];
  int n = 0;
  for (; n < kSpareDescriptors; ++n) {
    probe[n] = fcntl(any_fd, F_DUPFD_CLOEXEC, 0);
    if (probe[n] < 0) break;
  }
  for (int i = 0; i < n; ++i) close(probe[i]);
  return n == kSpareDescriptors;
}

}  // namespace

bool UnixListener::accept_one(grpc::Server& server) {
  const int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) return true;  // that peer only
    accept_failed(errno);
    // Out of descriptors or memory: the pending connection stays ready and poll() would spin;
    // pause instead. stop() still ends the pause at once, and poll() does not consume the
    // wake-up, so run() sees it next.
    wait_stop(kAcceptRetry);
    return false;
  }
  if (!descriptors_to_spare(fd)) {
    close(fd);  // refused now; the client sees a closed connection and may retry
    accept_failed(EMFILE);
    wait_stop(kAcceptRetry);
    return false;
  }
  auto peer = read_unix_peer(fd, path_);
  if (!peer) {
    const int err = errno;
    close(fd);
    accept_failed(err);
    return true;
  }
  remember_unix_peer(fd, std::move(*peer));  // before gRPC can see a call on it
  accepted_.fetch_add(1, std::memory_order_relaxed);
  grpc::AddInsecureChannelFromFd(&server, fd);  // gRPC owns and closes fd from here
  return true;
}

void UnixListener::accept_failed(int err) {
  accept_failures_.fetch_add(1, std::memory_order_relaxed);
  if (!failure_log_.allow(steady_ns())) return;
  const std::uint64_t held = failure_log_.suppressed();
  spdlog::error("control: accepting on {} failed: {}{}", address_, errno_text(err),
                held == 0 ? std::string() : " (" + std::to_string(held) + " more not logged)");
}

void UnixListener::release_path() {
  if (ino_ == 0) return;
  struct stat st {};
  if (stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) unlink(path_.c_str());
  ino_ = 0;
}

}  // namespace relay
