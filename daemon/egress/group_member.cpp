#include "group_member.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "frame_batch.hpp"

namespace relay {

namespace {

constexpr std::size_t kFullBytes = 4 * 1024 * 1024;    // unwritten bytes before the group waits
constexpr std::size_t kWriteBytes = 64 * 1024;         // waiting bytes written at once
constexpr std::size_t kCompactBytes = 1024 * 1024;     // written bytes kept before the buffer is compacted
constexpr std::uint64_t kPollEveryBytes = 256 * 1024;  // as tcp@ destinations poll (tcp_destination_acks.cpp)
constexpr double kAckPollSeconds = 0.005;

}  // namespace

GroupMember::GroupMember(struct ev_loop* loop, const Endpoint& endpoint, const DestinationConfig& cfg,
                         GroupMemberEvents& group)
    : loop_(loop), group_(group), shared_(0, endpoint), conn_(loop, shared_, cfg, *this) {
  ev_init(&ack_timer_, &GroupMember::on_ack_timer);
  ack_timer_.data = this;
  ev_prepare_init(&prepare_, &GroupMember::on_prepare);
  prepare_.data = this;
}

GroupMember::~GroupMember() {
  ev_timer_stop(loop_, &ack_timer_);
  ev_prepare_stop(loop_, &prepare_);
}

bool GroupMember::full() const noexcept { return out_.size() - written_from_ >= kFullBytes; }

void GroupMember::append_frame(std::span<const std::byte> payload) {
  const std::size_t before = out_.size();
  FrameBatch::append_framed(shared_.endpoint.framing,
                            MessageView{payload.data(), static_cast<std::uint32_t>(payload.size())}, out_);
  queued_ += out_.size() - before;
}

// Written at once when a batch's worth is waiting, else just before the loop next sleeps (an
// ev_prepare), so the messages handed over in one wake-up share a write.
void GroupMember::send(std::uint64_t id, std::uint32_t generation, std::span<const std::byte> payload) {
  append_frame(payload);
  copies_.push_back({queued_, id, generation});
  if (!conn_.up() || conn_.awaiting_writable()) return;
  if (out_.size() - written_from_ >= kWriteBytes)
    flush();
  else if (!ev_is_active(&prepare_))
    ev_prepare_start(loop_, &prepare_);
}

void GroupMember::on_prepare(struct ev_loop* loop, ev_prepare* w, int) {
  ev_prepare_stop(loop, w);
  auto* self = static_cast<GroupMember*>(w->data);
  if (self->conn_.up() && !self->conn_.awaiting_writable()) self->flush();
}

void GroupMember::flush() {
  const bool was_full = full();
  while (conn_.up() && written_from_ < out_.size()) {
    const ssize_t n = ::send(conn_.fd(), out_.data() + written_from_, out_.size() - written_from_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return conn_.want_writable(true);
      return conn_.fail(std::string("write: ") + std::strerror(errno));
    }
    written_from_ += static_cast<std::size_t>(n);
    written_ += static_cast<std::uint64_t>(n);
    shared_.counters.sent_bytes.add(static_cast<std::uint64_t>(n));
  }
  if (!conn_.up()) return;
  conn_.want_writable(false);
  if (written_from_ >= kCompactBytes || written_from_ == out_.size()) {
    out_.erase(0, written_from_);
    written_from_ = 0;
  }
  if (written_ - polled_at_ >= kPollEveryBytes) poll_acks();
  if (!copies_.empty() && !ev_is_active(&ack_timer_)) {
    ev_timer_set(&ack_timer_, kAckPollSeconds, kAckPollSeconds);
    ev_timer_start(loop_, &ack_timer_);
  }
  if (was_full && !full()) group_.member_changed();  // room again
}

void GroupMember::poll_acks() {
  if (conn_.fd() < 0 || copies_.empty()) return;
  int queued = 0;  // written and not acknowledged: write_seq - snd_una, even after a reset
  if (ioctl(conn_.fd(), SIOCOUTQ, &queued) != 0 || queued < 0) return;
  polled_at_ = written_;
  acked_ = written_ - std::min<std::uint64_t>(static_cast<std::uint64_t>(queued), written_);
  while (!copies_.empty() && copies_.front().wire_end <= acked_) {
    const Copy c = copies_.front();
    copies_.pop_front();
    shared_.counters.sent_messages.add();
    group_.member_acked(c.id, c.generation);
  }
}

void GroupMember::on_ack_timer(struct ev_loop* loop, ev_timer* w, int) {
  auto* self = static_cast<GroupMember*>(w->data);
  self->poll_acks();
  if (self->copies_.empty() || !self->conn_.up()) ev_timer_stop(loop, w);
}

void GroupMember::on_connected() {
  flush();
  group_.member_changed();
}

// Everything not acknowledged is lost with the connection; the next one starts a new stream.
void GroupMember::on_lost(bool was_connected) {
  ev_timer_stop(loop_, &ack_timer_);
  const auto why = shared_.last_error.load(std::memory_order_acquire);  // acquire: the string is whole
  std::deque<Copy> lost;
  lost.swap(copies_);
  out_.clear();
  written_from_ = 0;
  queued_ = written_ = acked_ = polled_at_ = 0;
  if (was_connected || !lost.empty())
    for (const Copy& c : lost) group_.member_lost(c.id, c.generation, why ? *why : "connection lost");
  group_.member_changed();
}

}  // namespace relay
