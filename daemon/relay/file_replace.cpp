#include "file_replace.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "unique_fd.hpp"

namespace relay {

namespace {

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::optional<ReplaceFailure> write_temp(const std::string& temp, std::string_view text, bool sync) {
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return ReplaceFailure{ReplaceFailure::create, errno};
  if (!write_all(fd.get(), text)) return ReplaceFailure{ReplaceFailure::write, errno};
  if (sync && ::fsync(fd.get()) != 0) return ReplaceFailure{ReplaceFailure::fsync, errno};
  // Without fsync, close is where a deferred write error (a full disk, say) shows.
  const int closed = ::close(fd.release());
  if (closed != 0) return ReplaceFailure{ReplaceFailure::write, errno};
  return std::nullopt;
}

}  // namespace

std::optional<ReplaceFailure> replace_file(const std::string& dir, const std::string& file, const std::string& temp,
                                           std::string_view text, bool sync) {
  if (auto failed = write_temp(temp, text, sync)) {
    ::unlink(temp.c_str());
    return failed;
  }
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    return ReplaceFailure{ReplaceFailure::rename, error};
  }
  if (!sync) return std::nullopt;
  const UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() < 0 || ::fsync(d.get()) != 0) return ReplaceFailure{ReplaceFailure::directory, errno};
  return std::nullopt;
}

}  // namespace relay
