// udp_sender: sends datagrams to relayd's UDP listener.
//
// UDP has no backpressure: a burst larger than relayd's socket buffer is dropped by the kernel,
// which would make "every message arrives" tests flaky. send_paced() therefore keeps at most
// `window` messages in flight, waiting (bounded) for the receivers to catch up: the condition
// is delivery, not elapsed time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sockets.hpp"

namespace relay::test {

class UdpSender {
 public:
  explicit UdpSender(std::uint16_t port, const std::string& host = "127.0.0.1");

  // One datagram; records a test failure if the kernel refuses it.
  void send(std::string_view payload);

  // Sends every payload, never more than `window` ahead of delivered(), which must count the
  // messages delivered out of all those send_paced() sent so far (across calls). Returns false,
  // having recorded a failure, when delivery stalls for `stall_timeout` (scaled).
  bool send_paced(const std::vector<std::string>& payloads, const std::function<std::size_t()>& delivered,
                  std::size_t window = 64, std::chrono::milliseconds stall_timeout = std::chrono::seconds(10));

  // All payloads in one sendmsg with UDP_SEGMENT, as a GSO sender does: the kernel cuts the train
  // into one datagram per payload. Every payload but the last must have the first one's size;
  // at most 64 of them. Records a test failure if the kernel refuses.
  void send_gso(const std::vector<std::string>& payloads);

  std::size_t paced_sent() const { return paced_sent_; }

 private:
  UniqueFd fd_;
  SocketAddress to_;
  std::size_t paced_sent_ = 0;
};

// Payloads make_payload(first..first+count-1, size).
std::vector<std::string> make_payloads(std::uint64_t first, std::size_t count, std::size_t size);

}  // namespace relay::test
