#include "udp_listener.hpp"

#include "gro_split.hpp"
#include "udp_control.hpp"

#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cstring>

namespace relay {
namespace {

constexpr std::size_t kMaxDatagramBytes = 65536;  // no UDP datagram (nor a GRO train) is longer

std::string human_bytes(int n) {
  if (n > 0 && n % (1 << 20) == 0) return fmt::format("{} MiB", n >> 20);
  if (n > 0 && n % (1 << 10) == 0) return fmt::format("{} KiB", n >> 10);
  return fmt::format("{} bytes", n);
}

}  // namespace

UdpListener::UdpListener(const Endpoint& ep, Queue& queue, const IngestConfig& cfg,
                         const std::function<void()>& on_published)
    : Listener(ep, queue, cfg, on_published) {
  try {
    open_socket(cfg);
  } catch (...) {
    stop();  // the destructor does not run for a throwing constructor
    throw;
  }
  prepare_buffers(cfg.batch == 0 ? 1 : cfg.batch);
}

UdpListener::~UdpListener() { stop(); }

void UdpListener::open_socket(const IngestConfig& cfg) {
  fd_ = socket(bound_.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail(errno, "socket");
  const int one = 1;
  // V6ONLY: "udp@[::]:2008" means IPv6 only; an IPv4 listener on the same port is separate.
  if (bound_.family() == AF_INET6 && setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
    fail(errno, "IPV6_V6ONLY");
  if (setsockopt(fd_, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) != 0) fail(errno, "SO_RXQ_OVFL");
  // ?reuseport=1: other relayd (same user) may bind the same address; the kernel spreads
  // datagrams over the sockets by the sender's address and port.
  if (bound_.reuseport && setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) fail(errno, "SO_REUSEPORT");
  set_rcvbuf(cfg.rcvbuf);
  gro_ = cfg.udp_gro && enable_gro();
  if (bind(fd_, reinterpret_cast<const sockaddr*>(&bound_.addr), bound_.addr_len) != 0) fail(errno);
  record_bound_address(fd_);
  spdlog::info("listener {}: SO_RCVBUF requested {}, granted {} bytes (Linux reports twice the usable size)", name_,
               human_bytes(cfg.rcvbuf), rcvbuf_granted_bytes_);
}

// SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; without it we take what
// SO_RCVBUF grants (capped at rmem_max) and report the real figure rather than the wish.
void UdpListener::set_rcvbuf(int requested) {
  if (requested > 0 && setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &requested, sizeof requested) != 0 &&
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &requested, sizeof requested) != 0)
    fail(errno, "SO_RCVBUF");
  socklen_t len = sizeof rcvbuf_granted_bytes_;
  if (getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_granted_bytes_, &len) != 0) fail(errno, "getsockopt SO_RCVBUF");
}

// A kernel without UDP_GRO (before 5.0) refuses the option: relayd then runs without it.
bool UdpListener::enable_gro() {
  const int one = 1;
  if (setsockopt(fd_, IPPROTO_UDP, UDP_GRO, &one, sizeof one) == 0) return true;
  spdlog::warn("listener {}: UDP_GRO not available ({}); receiving one datagram per buffer", name_,
               std::strerror(errno));
  return false;
}

// One slot per datagram, each a byte longer than the largest good one, so an oversized datagram
// is recognisable even where MSG_TRUNC reporting were missing — but never more than a UDP
// datagram can hold (64 KiB), whatever --max-message-size says (16 MiB × 1,024 slots once asked
// for 16 GiB). With GRO a slot takes a whole coalesced train, which is at most 64 KiB too.
void UdpListener::prepare_buffers(unsigned batch) {
  slot_bytes_ = std::min(std::size_t{max_message_} + 1, kMaxDatagramBytes);
  if (gro_) slot_bytes_ = kMaxDatagramBytes;
  buffer_.resize(batch * slot_bytes_);
  iov_.resize(batch);
  // Without GRO only the first datagram of a batch carries the drop count; with GRO every buffer
  // needs its segment size.
  control_.resize(gro_ ? batch : 1);
  msgs_.resize(batch);
  for (unsigned i = 0; i < batch; ++i) iov_[i] = {buffer_.data() + i * slot_bytes_, slot_bytes_};
}

void UdpListener::start(struct ev_loop* loop) {
  loop_ = loop;
  ev_io_init(&io_, &UdpListener::on_readable, fd_, EV_READ);
  io_.data = this;
  ev_io_start(loop_, &io_);
  // The first tick also counts whatever the kernel dropped before start().
  ev_timer_init(&drop_poll_, &UdpListener::on_drop_poll, kDropPollSeconds, kDropPollSeconds);
  drop_poll_.data = this;
  ev_timer_start(loop_, &drop_poll_);
}

void UdpListener::stop() {
  if (loop_ != nullptr) {
    ev_io_stop(loop_, &io_);
    ev_timer_stop(loop_, &drop_poll_);
  }
  loop_ = nullptr;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

// The socket is read until it is empty (bounded, should a sender flood it meanwhile), then
// closed: a datagram arriving after that finds the port closed, as after any removal.
void UdpListener::retire(double) {
  constexpr int kMaxRetireBatches = 4096;
  try {
    for (int i = 0; i < kMaxRetireBatches && receive_batch(); ++i) {}
  } catch (const std::exception& e) {
    callback_failed(e);
  }
  if (fd_ >= 0) poll_kernel_drops();
  stop();
}

void UdpListener::on_readable(struct ev_loop*, ev_io* w, int) {
  auto* self = static_cast<UdpListener*>(w->data);
  try {
    self->drain();
  } catch (const std::exception& e) {
    self->callback_failed(e);
  }
}

void UdpListener::on_drop_poll(struct ev_loop*, ev_timer* w, int) {
  static_cast<UdpListener*>(w->data)->poll_kernel_drops();
}

// SK_MEMINFO_DROPS is the same sk_drops total that SO_RXQ_OVFL reports, read now instead of
// when the next datagram was queued.
void UdpListener::poll_kernel_drops() {
  std::uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof meminfo;
  if (getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, meminfo, &len) != 0) {
    // It will not start working later: SO_RXQ_OVFL alone reports drops from now on.
    spdlog::warn("listener {}: SO_MEMINFO not available ({}); kernel_drops may trail until the next datagram", name_,
                 std::strerror(errno));
    ev_timer_stop(loop_, &drop_poll_);
    return;
  }
  if (len > SK_MEMINFO_DROPS * sizeof meminfo[0]) add_kernel_drops(meminfo[SK_MEMINFO_DROPS]);
}

// Both sources read one wrapping u32 total, but SO_RXQ_OVFL's is as of when its datagram was
// queued, so it may be older than the last SO_MEMINFO reading: only a total ahead of the one
// already counted adds anything, so no drop is counted twice.
void UdpListener::add_kernel_drops(std::uint32_t total) {
  const auto ahead = static_cast<std::int32_t>(total - last_kernel_drops_);
  if (ahead <= 0) return;
  counters_.kernel_drops.add(static_cast<std::uint32_t>(ahead));
  last_kernel_drops_ = total;
}

// Bounded so one flooded socket cannot starve the loop's other listeners; the watcher is
// level-triggered, so whatever is left wakes us again on the next iteration.
void UdpListener::drain() {
  for (int i = 0; i < kMaxBatchesPerWakeup && receive_batch(); ++i) {}
}

bool UdpListener::receive_batch() {
  const auto batch = static_cast<unsigned>(msgs_.size());
  for (unsigned i = 0; i < batch; ++i) {
    // The kernel rewrites msg_controllen and msg_flags on every call: reset them each time.
    msgs_[i].msg_hdr = {};
    msgs_[i].msg_hdr.msg_iov = &iov_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
  // The drop count is cumulative, so one reading per batch is enough: only the first datagram
  // gets a control buffer, which spares the kernel a cmsg copy per datagram (~4 % of relayd's
  // CPU at 400k msg/s in perf). Drops after a batch's first datagram show up one batch later,
  // or at the next drop poll.
  for (std::size_t i = 0; i < control_.size(); ++i) {
    msgs_[i].msg_hdr.msg_control = control_[i].bytes;
    msgs_[i].msg_hdr.msg_controllen = sizeof control_[i].bytes;
  }
  // MSG_TRUNC: msg_len is the datagram's real length, so an oversized one is logged with it.
  const int n = recvmmsg(fd_, msgs_.data(), batch, MSG_DONTWAIT | MSG_TRUNC, nullptr);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) receive_error(errno, "recvmmsg", now_ns());
    return false;
  }
  const std::int64_t now = now_ns();  // one clock read per batch
  for (int i = 0; i < n; ++i) handle(msgs_[i], static_cast<std::size_t>(i), now);
  end_batch();
  return static_cast<unsigned>(n) == batch;
}

void UdpListener::handle(const mmsghdr& m, std::size_t index, std::int64_t now) {
  const UdpControl control = read_udp_control(m.msg_hdr);
  if (control.drops) add_kernel_drops(*control.drops);
  const std::byte* data = buffer_.data() + index * slot_bytes_;
  if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0) {
    // msg_len is the datagram's real length, longer than the slot: counted, never delivered.
    oversized(std::max<std::size_t>(m.msg_len, slot_bytes_), now);
    return;
  }
  split_gro({data, m.msg_len}, control.segment,
            [this, now](std::span<const std::byte> datagram) { accept(datagram, now); });
}

void UdpListener::accept(std::span<const std::byte> datagram, std::int64_t now) {
  if (oversized(datagram.size(), now)) return;
  deliver(datagram, now);
}

}  // namespace relay
