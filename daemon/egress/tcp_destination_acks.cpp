// TcpDestination's at-least-once bookkeeping (tcp_destination.hpp): the acknowledged cursor, moved by
// what the peer's TCP acknowledged, and the rewind of the write cursor after a broken connection.
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <algorithm>

#include "tcp_destination.hpp"

namespace relay {

namespace {

// A poll per this many bytes written keeps the acknowledged cursor close behind under load for
// one ioctl per 256 KiB; the client thread's tick polls the rest (and an idle connection).
constexpr std::uint64_t kPollEveryBytes = 256 * 1024;
// Caught up, the acknowledgements of the last writes come within a round trip (or a delayed
// ACK, up to 40 ms on Linux): polled this often until they have all come.
constexpr double kAckPollSeconds = 0.005;

}  // namespace

TcpDestination::~TcpDestination() { ev_timer_stop(loop_, &ack_timer_); }

void TcpDestination::await_acks() {
  if (acked_ && unacked() > 0 && !ev_is_active(&ack_timer_)) {
    ev_timer_set(&ack_timer_, kAckPollSeconds, kAckPollSeconds);
    ev_timer_start(loop_, &ack_timer_);
  }
}

void TcpDestination::on_ack_timer(struct ev_loop* loop, ev_timer* w, int) {
  auto* self = static_cast<TcpDestination*>(w->data);
  self->poll_acks();
  if (self->unacked() == 0 || !self->conn_.up()) ev_timer_stop(loop, w);
}

void TcpDestination::note_written(std::size_t n, bool completed_messages) {
  if (!acked_) return;
  wire_written_ += n;
  if (completed_messages) mark_write();
  if (wire_written_ - polled_at_ >= kPollEveryBytes) poll_acks();
}

// After a write that completed messages: the write cursor stands at a message boundary, which
// begins where the bytes of the message it cut (if any) begin.
// The ring full, the newest mark moves up instead: acknowledgements get coarser, never walked.
void TcpDestination::mark_write() {
  if (marks_count_ < kMarks) ++marks_count_;
  marks_[(marks_first_ + marks_count_ - 1) % kMarks] = {wire_written_ - progress_.partial(), cursor_.position()};
}

void TcpDestination::poll_acks() {
  if (!acked_ || conn_.fd() < 0 || acked_->id() == cursor_.id()) return;
  int queued = 0;  // bytes written and not yet acknowledged: write_seq - snd_una, even after a reset
  if (ioctl(conn_.fd(), SIOCOUTQ, &queued) != 0 || queued < 0) return;
  polled_at_ = wire_written_;
  const auto in_queue = std::min<std::uint64_t>(static_cast<std::uint64_t>(queued), wire_written_);
  acknowledged(wire_written_ - in_queue);
}

// Moves the acknowledged cursor over every message whose last byte is among the first
// `wire_bytes` of this connection; never past the write cursor (a cut message is not whole).
void TcpDestination::acknowledged(std::uint64_t wire_bytes) {
  const std::uint64_t total = acknowledged_marks(wire_bytes) + acknowledged_messages(wire_bytes);
  if (total == 0) return;
  shared_->counters.sent_messages.add(total);
  publish_cursor();
}

// Whole writes acknowledged: a jump to the last one's mark, no message read.
std::uint64_t TcpDestination::acknowledged_marks(std::uint64_t wire_bytes) {
  const WriteMark* last = nullptr;
  while (marks_count_ > 0 && marks_[marks_first_].wire <= wire_bytes) {
    last = &marks_[marks_first_];
    marks_first_ = (marks_first_ + 1) % kMarks;
    --marks_count_;
  }
  if (last == nullptr || last->at.id <= acked_->id()) return 0;
  const std::uint64_t passed = last->at.id - acked_->id();
  acked_->move_to(last->at);
  acked_wire_ = last->wire;
  return passed;
}

// The rest, message by message: the write acknowledged in part (at a break, or after a poll).
std::uint64_t TcpDestination::acknowledged_messages(std::uint64_t wire_bytes) {
  const Framing framing = shared_->endpoint.framing;
  std::uint64_t total = 0;
  while (acked_wire_ < wire_bytes && acked_->id() < cursor_.id()) {
    const auto room =
        static_cast<std::size_t>(std::min<std::uint64_t>(acked_views_.size(), cursor_.id() - acked_->id()));
    const std::size_t have = acked_->peek(std::span(acked_views_).first(room));
    std::size_t whole = 0;
    for (; whole < have; ++whole) {
      const std::uint64_t end = acked_wire_ + FrameBatch::framed_size(framing, acked_views_[whole]);
      if (end > wire_bytes) break;
      acked_wire_ = end;
    }
    if (whole == 0) break;
    acked_->advance(std::span(acked_views_).first(whole));
    total += whole;
    if (whole < have) break;
  }
  // Marks the walk passed are stale.
  while (marks_count_ > 0 && marks_[marks_first_].at.id <= acked_->id()) {
    marks_first_ = (marks_first_ + 1) % kMarks;
    --marks_count_;
  }
  return total;
}

// The queue budget needs the memory the acknowledged cursor holds: messages written but not
// acknowledged (those before `written_end`) count as sent, since the peer may well have them,
// and are not resent. The acknowledged cursor joins the write cursor, past the floor.
void TcpDestination::give_up_unacked(std::uint64_t written_end) {
  if (written_end > acked_->id()) shared_->counters.sent_messages.add(written_end - acked_->id());
  acked_->move_to(cursor_);
  acked_wire_ = cursor_wire_offset();
  marks_count_ = 0;
}

void TcpDestination::settle_unacked() {
  if (!acked_) return;
  poll_acks();
  give_up_unacked(cursor_.id());
  publish_cursor();
}

// The connection broke: everything it did not get acknowledged goes again on the next one,
// after a carried message (which restarts whole, see WriteProgress::connection_lost).
void TcpDestination::rewind_unacked() {
  const std::uint64_t unacked = cursor_.id() - acked_->id();
  if (unacked > 0) {
    shared_->counters.resent_unacked.add(unacked);
    cursor_.move_to(*acked_);
  }
  wire_written_ = 0;
  polled_at_ = 0;
  marks_count_ = 0;  // positions in the old connection's byte stream
  acked_wire_ = cursor_wire_offset();
  publish_cursor();
}

// Where the message at the write cursor starts (or will start) in this connection's bytes: after
// what is left of a carried message, at the start of a message the last write cut.
std::uint64_t TcpDestination::cursor_wire_offset() const noexcept {
  return wire_written_ + progress_.carry_rest().size() - progress_.partial();
}

}  // namespace relay
