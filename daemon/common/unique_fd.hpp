// unique_fd: a file descriptor closed on every path out of its scope.
// Thread: owned by one thread at a time, like the descriptor.
#pragma once

#include <unistd.h>

namespace relay {

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) noexcept : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  // Hands the descriptor over (to a close() whose result matters, say); no longer closed here.
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

}  // namespace relay
