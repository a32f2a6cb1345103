#include "state_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "file_replace.hpp"
#include "private_directory.hpp"
#include "state_error.hpp"
#include "state_format.hpp"
#include "unique_fd.hpp"

namespace relay {

namespace {

std::string reason() { return std::strerror(errno); }

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
  if (const std::string why = make_private_directory(dir_); !why.empty())
    throw StateError(fmt::format("state directory {}: {}", dir_, why));
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
  const UniqueFd fd(::open(file_.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0 && errno == ENOENT) return {};
  if (fd.get() < 0) throw StateError(fmt::format("state file {}: cannot open: {}", file_, reason()));
  return parse_state(read_all(fd.get(), file_), file_);
}

void StateStore::save(const RuntimeState& state) {
  const auto failed = replace_file(dir_, file_, temp_, format_state(state), true);
  if (!failed) return;
  const std::string why = std::strerror(failed->error);
  switch (failed->step) {
    case ReplaceFailure::create: throw StateError(fmt::format("state file {}: cannot create: {}", temp_, why));
    case ReplaceFailure::write: throw StateError(fmt::format("state file {}: cannot write: {}", temp_, why));
    case ReplaceFailure::fsync: throw StateError(fmt::format("state file {}: fsync failed: {}", temp_, why));
    case ReplaceFailure::rename:
      throw StateError(fmt::format("state file {}: cannot rename {} over it: {}", file_, temp_, why));
    case ReplaceFailure::directory: throw StateError(fmt::format("state directory {}: fsync failed: {}", dir_, why));
  }
}

bool StateStore::reset() {
  if (::unlink(file_.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw StateError(fmt::format("state file {}: cannot remove: {}", file_, reason()));
}

}  // namespace relay
