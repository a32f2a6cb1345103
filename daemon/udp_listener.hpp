// udp_listener: a UDP socket whose datagrams become queue messages, one datagram per message.
//
// Receives in batches with recvmmsg into a preallocated bounce buffer, appends every good
// datagram, then publishes once per batch. Kernel-side drops (receive buffer overflow) are read
// from SO_RXQ_OVFL and counted as kernel_drops.
#pragma once

#include <ev.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "listener.hpp"

namespace relay {

class UdpListener final : public Listener {
 public:
  // Binds now; throws std::system_error naming the address.
  UdpListener(const Endpoint& ep, Queue& queue, const IngestConfig& cfg,
              const std::function<void()>& on_published);
  ~UdpListener() override;

  void start(struct ev_loop* loop) override;
  void stop() override;

 private:
  // Batches drained per readiness callback before yielding to the loop's other sockets.
  static constexpr int kMaxBatchesPerWakeup = 16;

  // Room for one SO_RXQ_OVFL control message, aligned as the cmsg macros require.
  struct alignas(cmsghdr) Control {
    unsigned char bytes[CMSG_SPACE(sizeof(std::uint32_t))];
  };

  void open_socket(const IngestConfig& cfg);
  void set_rcvbuf(int requested);
  void prepare_buffers(unsigned batch);
  static void on_readable(struct ev_loop* loop, ev_io* w, int revents);
  void drain();
  bool receive_batch();  // true when the batch came back full (more may be waiting)
  void handle(const mmsghdr& m, std::size_t index, std::int64_t now);
  void count_kernel_drops(const msghdr& h);

  int fd_ = -1;
  struct ev_loop* loop_ = nullptr;
  ev_io io_{};
  std::size_t slot_bytes_ = 0;       // max_message + 1: one more byte than any good datagram
  std::vector<std::byte> buffer_;    // batch × slot_bytes_
  std::vector<iovec> iov_;
  std::vector<Control> control_;
  std::vector<mmsghdr> msgs_;
  std::uint32_t last_kernel_drops_ = 0;  // SO_RXQ_OVFL is cumulative; we add the deltas
};

}  // namespace relay
