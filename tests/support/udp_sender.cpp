#include "udp_sender.hpp"

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
