// udp_batch_sender: sends many same-size datagrams per system call.
//
// sendmmsg() with several messages, each of which, with UDP GSO (UDP_SEGMENT), is one buffer
// of up to kMaxSegments datagrams that the kernel splits: hundreds of datagrams per syscall.
// Falls back to one datagram per sendmmsg entry when the kernel refuses GSO.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

namespace relay::bench {

class UdpBatchSender {
 public:
  // target: "host:port" or "[v6]:port"; size: every datagram's size (GSO needs equal sizes).
  UdpBatchSender(const std::string& target, std::size_t size, bool try_gso, std::size_t batch_messages);
  ~UdpBatchSender();
  UdpBatchSender(const UdpBatchSender&) = delete;
  UdpBatchSender& operator=(const UdpBatchSender&) = delete;

  // Datagrams one send() call carries at most.
  std::size_t capacity() const noexcept { return entries_ * per_entry_; }
  bool gso() const noexcept { return gso_; }
  // Slot i's bytes (size bytes) to fill before send(); i < capacity().
  char* slot(std::size_t i) noexcept { return buf_.data() + i * size_; }
  // Sends the first n slots; returns how many datagrams the kernel took.
  std::size_t send(std::size_t n);

 private:
  bool enable_gso();
  void layout();
  std::size_t send_once(std::size_t n);

  int fd_ = -1;
  std::size_t size_;
  std::size_t batch_;
  bool gso_ = false;
  std::size_t per_entry_ = 1;  // datagrams per sendmmsg entry (GSO segments)
  std::size_t entries_ = 0;
  std::vector<char> buf_;
  std::vector<iovec> iov_;
  std::vector<mmsghdr> msgs_;
};

}  // namespace relay::bench
