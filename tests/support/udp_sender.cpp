#include "udp_sender.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "payload.hpp"
#include "timeouts.hpp"

namespace relay::test {

UdpSender::UdpSender(std::uint16_t port, const std::string& host) : to_(make_address(host, port)) {
  fd_.reset(::socket(to_.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd_) throw std::system_error(errno, std::generic_category(), "UdpSender socket");
}

void UdpSender::send(std::string_view payload) {
  const ssize_t n = ::sendto(fd_.get(), payload.data(), payload.size(), 0, to_.get(), to_.len);
  if (n != static_cast<ssize_t>(payload.size()))
    ADD_FAILURE() << "sendto of " << payload.size() << " bytes failed: " << std::strerror(errno);
}

void UdpSender::send_gso(const std::vector<std::string>& payloads) {
  constexpr int kUdpSegment = 103;  // UDP_SEGMENT (linux/udp.h)
  std::string train;
  for (const auto& p : payloads) train += p;
  const auto segment = static_cast<std::uint16_t>(payloads.empty() ? 0 : payloads.front().size());
  iovec iov{train.data(), train.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof segment)] = {};
  msghdr m{};
  m.msg_name = const_cast<sockaddr*>(to_.get());
  m.msg_namelen = to_.len;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = IPPROTO_UDP;
  c->cmsg_type = kUdpSegment;
  c->cmsg_len = CMSG_LEN(sizeof segment);
  std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
  const ssize_t n = ::sendmsg(fd_.get(), &m, 0);
  if (n != static_cast<ssize_t>(train.size()))
    ADD_FAILURE() << "GSO sendmsg of " << payloads.size() << " datagrams failed: " << std::strerror(errno);
}

bool UdpSender::send_paced(const std::vector<std::string>& payloads, const std::function<std::size_t()>& delivered,
                           std::size_t window, std::chrono::milliseconds stall_timeout) {
  for (const auto& p : payloads) {
    if (!wait_until([&] { return delivered() + window > paced_sent_; }, stall_timeout)) {
      ADD_FAILURE() << "delivery stalled: " << delivered() << " of " << paced_sent_ << " sent messages delivered after "
                    << scaled(stall_timeout).count() << " ms";
      return false;
    }
    send(p);
    ++paced_sent_;
  }
  return true;
}

std::vector<std::string> make_payloads(std::uint64_t first, std::size_t count, std::size_t size) {
  std::vector<std::string> v;
  v.reserve(count);
  for (std::size_t i = 0; i < count; ++i) v.push_back(make_payload(first + i, size));
  return v;
}

}  // namespace relay::test
