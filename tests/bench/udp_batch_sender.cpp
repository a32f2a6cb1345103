#include "udp_batch_sender.hpp"

#include <netdb.h>
#include <netinet/udp.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h; older libc headers lack it
#endif

namespace relay::bench {
namespace {

constexpr std::size_t kMaxSegments = 64;     // UDP_MAX_SEGMENTS on older kernels
constexpr std::size_t kMaxGsoBytes = 65000;  // one GSO buffer must fit an IP datagram

// Splits "host:port" / "[v6]:port", resolves numerically, connects a UDP socket.
int connect_udp(const std::string& target) {
  const auto colon = target.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--target must be HOST:PORT");
  std::string host = target.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = target.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
    throw std::invalid_argument("cannot resolve " + target + ": " + ::gai_strerror(rc));
  const int fd = ::socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int rc = fd < 0 ? -1 : ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0) throw std::system_error(errno, std::generic_category(), "connect " + target);
  return fd;
}

}  // namespace

UdpBatchSender::UdpBatchSender(const std::string& target, std::size_t size, bool try_gso, std::size_t batch_messages)
    : fd_(connect_udp(target)), size_(size), batch_(batch_messages == 0 ? 1 : batch_messages) {
  gso_ = try_gso && enable_gso();
  layout();
}

UdpBatchSender::~UdpBatchSender() {
  if (fd_ >= 0) ::close(fd_);
}

bool UdpBatchSender::enable_gso() {
  const int seg = static_cast<int>(size_);
  if (size_ * 2 > kMaxGsoBytes) return false;  // at most one segment: nothing to gain
  return ::setsockopt(fd_, IPPROTO_UDP, UDP_SEGMENT, &seg, sizeof seg) == 0;
}

void UdpBatchSender::layout() {
  per_entry_ = gso_ ? std::min(kMaxSegments, kMaxGsoBytes / size_) : 1;
  entries_ = (batch_ + per_entry_ - 1) / per_entry_;
  buf_.assign(entries_ * per_entry_ * size_, 'x');
  iov_.assign(entries_, iovec{});
  msgs_.assign(entries_, mmsghdr{});
  for (std::size_t i = 0; i < entries_; ++i) {
    msgs_[i].msg_hdr.msg_iov = &iov_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

std::size_t UdpBatchSender::send(std::size_t n) {
  const std::size_t sent = send_once(n);
  if (sent == 0 && gso_ && (errno == EINVAL || errno == EIO || errno == ENOTSUP)) {
    // Kernel or device without UDP GSO: disable it and keep the same slots.
    const int off = 0;
    ::setsockopt(fd_, IPPROTO_UDP, UDP_SEGMENT, &off, sizeof off);
    std::vector<char> keep(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n * size_));
    gso_ = false;
    batch_ = capacity();
    layout();
    std::copy(keep.begin(), keep.end(), buf_.begin());
    return send_once(n);
  }
  return sent;
}

std::size_t UdpBatchSender::send_once(std::size_t n) {
  const std::size_t used = (n + per_entry_ - 1) / per_entry_;
  for (std::size_t i = 0; i < used; ++i) {
    const std::size_t count = std::min(per_entry_, n - i * per_entry_);
    iov_[i].iov_base = slot(i * per_entry_);
    iov_[i].iov_len = count * size_;
  }
  std::size_t done = 0;
  int retries = 0;
  while (done < used) {
    const int rc = ::sendmmsg(fd_, msgs_.data() + done, static_cast<unsigned>(used - done), 0);
    // EINTR; ECONNREFUSED reports an ICMP from an earlier send (nothing listens yet); ENOBUFS is
    // transient. Bounded, so a target that stays away cannot spin us forever.
    if (rc < 0 && (errno == EINTR || errno == ECONNREFUSED || errno == ENOBUFS) && ++retries < 100) continue;
    if (rc <= 0) break;
    done += static_cast<std::size_t>(rc);
  }
  if (done == used) return n;
  return done * per_entry_;
}

}  // namespace relay::bench
