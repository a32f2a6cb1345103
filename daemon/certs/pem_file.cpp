#include "pem_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace relay::certs {

namespace {

constexpr off_t kMaxSmallFile = 1 << 20;

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw std::runtime_error(what + " " + path + ": " + std::strerror(err));
}

void write_all(int fd, const std::string& text, const std::string& path) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot write", path, errno);
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

void write_new_private_file(const std::string& path, const std::string& text) {
  // O_EXCL: an existing key is never replaced, not even by a race with another writer; 0600
  // from the first byte, so no other user can open it before a chmod.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) throw std::runtime_error("refusing to overwrite " + path);
  if (fd < 0) fail("cannot create", path, errno);
  try {
    write_all(fd, text, path);
    if (::fsync(fd) != 0) fail("cannot fsync", path, errno);
  } catch (...) {
    ::close(fd);
    ::unlink(path.c_str());
    throw;
  }
  ::close(fd);
}

std::string read_small_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot read", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size > kMaxSmallFile) {
    ::close(fd);
    throw std::runtime_error("cannot read " + path + ": not a regular file of at most 1 MiB");
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(done);
  return text;
}

}  // namespace relay::certs
