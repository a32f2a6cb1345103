// udp_listener: a UDP socket whose datagrams become queue messages, one datagram per message.
//
// Receives in batches with recvmmsg into a preallocated bounce buffer, appends every good
// datagram, then publishes once per batch. Kernel-side drops (receive buffer overflow) are read
// from SO_RXQ_OVFL and counted as kernel_drops. With --udp-gro the kernel may hand over a train
// of equal-sized datagrams from one sender (UDP GSO senders; GRO on real NICs) as one buffer,
// with the segment size in a UDP_GRO control message; it is split back into its datagrams here.
// Thread: server thread, like every listener (listener.hpp).
#pragma once

#include <ev.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "listener.hpp"

namespace relay {

class UdpListener final : public Listener {
 public:
  // Binds now; throws std::system_error naming the address.
  UdpListener(const Endpoint& ep, Queue& queue, const IngestConfig& cfg, const std::function<void()>& on_published);
  ~UdpListener() override;

  void start(struct ev_loop* loop) override;
  void stop() override;

 private:
  // Batches drained per readiness callback before yielding to the loop's other sockets.
  static constexpr int kMaxBatchesPerWakeup = 16;

  // Room for an SO_RXQ_OVFL and a UDP_GRO control message, aligned as the cmsg macros require.
  struct alignas(cmsghdr) Control {
    unsigned char bytes[CMSG_SPACE(sizeof(std::uint32_t)) + CMSG_SPACE(sizeof(int))];
  };

  void open_socket(const IngestConfig& cfg);
  void set_rcvbuf(int requested);
  void prepare_buffers(unsigned batch);
  static void on_readable(struct ev_loop* loop, ev_io* w, int revents);
  void drain();
  bool receive_batch();  // true when the batch came back full (more may be waiting)
  void handle(const mmsghdr& m, std::size_t index, std::int64_t now);
  void accept(std::span<const std::byte> datagram, std::int64_t now);
  // Reads the control messages: adds SO_RXQ_OVFL's drop count, returns UDP_GRO's segment size
  // (0 when the buffer holds one datagram).
  std::size_t read_control(const msghdr& h);
  bool enable_gro();

  int fd_ = -1;
  struct ev_loop* loop_ = nullptr;
  ev_io io_{};
  std::size_t slot_bytes_ = 0;     // max_message + 1: one more byte than any good datagram
  std::vector<std::byte> buffer_;  // batch × slot_bytes_
  std::vector<iovec> iov_;
  std::vector<Control> control_;
  std::vector<mmsghdr> msgs_;
  std::uint32_t last_kernel_drops_ = 0;  // SO_RXQ_OVFL is cumulative; we add the deltas
  bool gro_ = false;                     // UDP_GRO on: a buffer may hold several datagrams
};

}  // namespace relay
