// udp_listener: a UDP socket whose datagrams become queue messages, one datagram per message.
//
// Receives in batches with recvmmsg into a preallocated bounce buffer, appends every good
// datagram, then publishes once per batch. Kernel-side drops (receive buffer overflow) are
// counted as kernel_drops: read from SO_RXQ_OVFL on received datagrams, and from SO_MEMINFO on a
// timer, because drops after the last datagram would otherwise wait for the next one. With
// --udp-gro the kernel may hand over a train of equal-sized datagrams from one sender (UDP GSO
// senders; GRO on real NICs) as one buffer, with the segment size in a UDP_GRO control message;
// it is split back into its datagrams (gro_split.hpp; control messages: udp_control.hpp).
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
  void retire(double grace) override;
  bool finished() const override { return fd_ < 0; }

 private:
  // Batches drained per readiness callback before yielding to the loop's other sockets.
  static constexpr int kMaxBatchesPerWakeup = 16;
  // How stale kernel_drops may be on a quiet socket; one getsockopt per tick costs nothing.
  static constexpr double kDropPollSeconds = 0.25;

  // Room for an SO_RXQ_OVFL and a UDP_GRO control message, aligned as the cmsg macros require.
  struct alignas(cmsghdr) Control {
    unsigned char bytes[CMSG_SPACE(sizeof(std::uint32_t)) + CMSG_SPACE(sizeof(int))];
  };

  void open_socket(const IngestConfig& cfg);
  void set_rcvbuf(int requested);
  void prepare_buffers(unsigned batch);
  static void on_readable(struct ev_loop* loop, ev_io* w, int revents);
  static void on_drop_poll(struct ev_loop* loop, ev_timer* w, int revents);
  void poll_kernel_drops();
  void add_kernel_drops(std::uint32_t total);
  void drain();
  bool receive_batch();  // true when the batch came back full (more may be waiting)
  void handle(const mmsghdr& m, std::size_t index, std::int64_t now);
  void accept(std::span<const std::byte> datagram, std::int64_t now);
  bool enable_gro();

  int fd_ = -1;
  struct ev_loop* loop_ = nullptr;
  ev_io io_{};
  ev_timer drop_poll_{};
  std::size_t slot_bytes_ = 0;     // max_message + 1: one more byte than any good datagram
  std::vector<std::byte> buffer_;  // batch × slot_bytes_
  std::vector<iovec> iov_;
  std::vector<Control> control_;
  std::vector<mmsghdr> msgs_;
  std::uint32_t last_kernel_drops_ = 0;  // the socket's drop total (both sources) already counted
  bool gro_ = false;                     // UDP_GRO on: a buffer may hold several datagrams
};

}  // namespace relay
