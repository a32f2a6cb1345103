#include "state_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "state_error.hpp"
#include "state_format.hpp"

namespace relay {

namespace {

std::string reason() { return std::strerror(errno); }

// Closes on every path out of a function.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// mkdir -p with 0700 for every directory it makes: the state says where messages go.
void make_directory(const std::string& dir) {
  for (std::size_t at = dir.find('/', 1);; at = dir.find('/', at + 1)) {
    const std::string part = dir.substr(0, at);
    if (!part.empty() && ::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      throw StateError(fmt::format("state directory {}: cannot create {}: {}", dir, part, reason()));
    if (at == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) throw StateError(fmt::format("state directory {}: {}", dir, reason()));
  if (!S_ISDIR(st.st_mode)) throw StateError(fmt::format("state directory {}: not a directory", dir));
}

void write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw StateError(fmt::format("state file {}: cannot write: {}", path, reason()));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string read_all(int fd, const std::string& path) {
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw StateError(fmt::format("state file {}: cannot read: {}", path, reason()));
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

StateStore::StateStore(std::string dir)
    : dir_(std::move(dir)), file_(dir_ + "/" + kFileName), temp_(dir_ + "/" + kTempName) {
  make_directory(dir_);
  const std::string lock = dir_ + "/" + kLockName;
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) throw StateError(fmt::format("state directory {}: cannot open {}: {}", dir_, lock, reason()));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::string why = errno == EWOULDBLOCK ? "another relayd uses this state directory" : reason();
    ::close(lock_fd_);
    throw StateError(fmt::format("state directory {}: cannot lock {}: {}", dir_, lock, why));
  }
}

StateStore::~StateStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

RuntimeState StateStore::load() {
  if (::unlink(temp_.c_str()) == 0)
    spdlog::warn("state: removed {}, a write that never completed (the state file it would have replaced is kept)",
                 temp_);
  Fd fd(::open(file_.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0 && errno == ENOENT) return {};
  if (fd.fd < 0) throw StateError(fmt::format("state file {}: cannot open: {}", file_, reason()));
  return parse_state(read_all(fd.fd, file_), file_);
}

void StateStore::save(const RuntimeState& state) {
  try {
    Fd fd(::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.fd < 0) throw StateError(fmt::format("state file {}: cannot create: {}", temp_, reason()));
    write_all(fd.fd, format_state(state), temp_);
    if (::fsync(fd.fd) != 0) throw StateError(fmt::format("state file {}: fsync failed: {}", temp_, reason()));
  } catch (const StateError&) {
    ::unlink(temp_.c_str());
    throw;
  }
  if (::rename(temp_.c_str(), file_.c_str()) != 0) {
    const std::string why = reason();
    ::unlink(temp_.c_str());
    throw StateError(fmt::format("state file {}: cannot rename {} over it: {}", file_, temp_, why));
  }
  // The rename is durable only once the directory is.
  Fd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.fd < 0 || ::fsync(dir.fd) != 0)
    throw StateError(fmt::format("state directory {}: fsync failed: {}", dir_, reason()));
}

bool StateStore::reset() {
  if (::unlink(file_.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw StateError(fmt::format("state file {}: cannot remove: {}", file_, reason()));
}

}  // namespace relay
