#include "tcp_destination.hpp"

#include <sys/socket.h>

#include <algorithm>

#include <cerrno>
#include <cstring>
#include <string>

namespace relay {

namespace {

// Writes per wake-up before yielding to the loop, so one busy destination cannot starve others.
constexpr int kWritesPerWake = 16;

}  // namespace

TcpDestination::TcpDestination(struct ev_loop* loop, Queue& queue, std::shared_ptr<DestinationShared> shared,
                               StartAt start, const DestinationConfig& cfg, std::optional<std::uint64_t> resume)
    : Destination(std::move(shared)),
      cursor_(queue, resume ? StartAt::head : start),
      views_(FrameBatch::kMaxMessages),
      tls_buf_(shared_->tls ? kTlsGather : 0),
      loop_(loop),
      conn_(loop, *shared_, cfg, *this) {
  ev_init(&ack_timer_, &TcpDestination::on_ack_timer);
  ack_timer_.data = this;
  if (resume) cursor_.walk_to(*resume);
  if (shared_->endpoint.delivery == Delivery::at_least_once && !shared_->tls) {
    acked_.emplace(queue, start);
    acked_->move_to(cursor_);  // the same message: joined separately, it could be a later tail
    acked_views_.resize(FrameBatch::kMaxMessages);
  }
  publish_cursor();
}

// The cursor other threads see: the acknowledged one when there is one.
void TcpDestination::publish_cursor() {
  shared_->cursor.set(published().id());
  shared_->unacked.set(unacked());
}

void TcpDestination::on_lost(bool was_connected) {
  tls_pending_ = false;
  if (progress_.connection_lost() && was_connected) shared_->counters.resent_partial.add();
  if (acked_) rewind_unacked();
}

void TcpDestination::on_data() {
  apply_floor();
  // Waiting for socket space already: the write watcher calls flush() when there is some.
  if (conn_.up() && !conn_.awaiting_writable()) flush();
}

// The slow-destination policy, consumer side: when the queue budget forced the floor past our
// cursor, jump to it and count what we skipped. A half-written message (or, for TLS, the
// messages a record already committed to the session may hold) is kept aside and finished
// first, so the peer never sees a cut frame.
void TcpDestination::apply_floor() {
  if (!published().below_floor()) return;
  const std::uint64_t written_end = cursor_.id();
  const bool in_flight = progress_.partial() > 0 || (tls_pending_ && !progress_.carrying());
  if (in_flight && cursor_.below_floor()) keep_partial_message();
  const std::uint64_t skipped = cursor_.skip_to_floor();
  shared_->counters.dropped_lagging.add(skipped);  // the carried ones were passed before the skip
  if (acked_) give_up_unacked(written_end);
  publish_cursor();
}

// Frames the messages at the cursor that are partly on the wire, hands them to progress_ and
// moves the cursor past them (rare: only when the floor overtakes a destination mid-write).
// That is the first message for TCP; for a pending TLS record, as many as its bytes may reach.
// Returns how many it kept.
std::size_t TcpDestination::keep_partial_message() {
  const std::size_t have = cursor_.peek(views_);
  if (have == 0) return 0;
  std::size_t keep = 1;
  if (tls_pending_) {
    const std::size_t reach = progress_.partial() + kTlsRecord;
    for (std::size_t bytes = views_[0].record_size(); keep < have && bytes < reach; ++keep)
      bytes += views_[keep].record_size();
  }
  keep = frames_.build(shared_->endpoint.framing, std::span(views_.data(), keep), 0);
  std::string framed;
  for (std::size_t i = 0; i < frames_.iov_count(); ++i)
    framed.append(static_cast<const char*>(frames_.iov()[i].iov_base), frames_.iov()[i].iov_len);
  progress_.carry(std::move(framed), keep);
  cursor_.advance(std::span(views_).first(keep));
  return keep;
}

void TcpDestination::flush() {
  if (TlsSession* tls = conn_.tls()) return flush_tls(*tls);
  for (int i = 0; i < kWritesPerWake && conn_.up(); ++i) {
    if (!(progress_.carrying() ? write_carry() : write_batch())) return;
  }
  // Still more to send after our share of this wake-up: come back when the loop polls again.
  if (conn_.up()) conn_.want_writable(true);
}

// After a send: false (and the right watcher state) when nothing more can be written now.
bool TcpDestination::wrote(ssize_t n) {
  if (n >= 0) return true;
  if (errno == EAGAIN || errno == EINTR)
    conn_.want_writable(true);
  else
    conn_.fail(std::string("write: ") + std::strerror(errno));
  return false;
}

// Returns true when the carried message is fully written.
bool TcpDestination::write_carry() {
  const std::span<const char> rest = progress_.carry_rest();
  const ssize_t n = send(conn_.fd(), rest.data(), rest.size(), MSG_NOSIGNAL);
  if (!wrote(n)) return false;
  shared_->counters.sent_bytes.add(static_cast<std::uint64_t>(n));
  note_written(static_cast<std::size_t>(n), false);
  const std::size_t messages = progress_.carried_messages();
  if (!progress_.carry_written(static_cast<std::size_t>(n))) {
    conn_.want_writable(true);
    return false;
  }
  shared_->counters.sent_messages.add(messages);
  return true;
}

// One sendmsg of as many queued messages as fit. Returns true when everything framed went out
// and more may be queued; false when caught up, the socket is full, or the connection failed.
bool TcpDestination::write_batch() {
  const std::size_t have = cursor_.peek(views_);
  if (have == 0) {
    conn_.want_writable(false);
    await_acks();
    return false;
  }
  const std::size_t framed =
      frames_.build(shared_->endpoint.framing, std::span(views_.data(), have), progress_.partial());
  msghdr msg{};
  msg.msg_iov = frames_.iov();
  msg.msg_iovlen = frames_.iov_count();
  const ssize_t n = sendmsg(conn_.fd(), &msg, MSG_NOSIGNAL);
  if (!wrote(n)) return false;
  const std::size_t done = progress_.account(static_cast<std::size_t>(n), frames_.ends().first(framed));
  cursor_.advance(std::span(views_).first(done));
  shared_->counters.sent_bytes.add(static_cast<std::uint64_t>(n));
  if (acked_) {
    note_written(static_cast<std::size_t>(n), done > 0);  // counted as sent when acknowledged
  } else {
    shared_->counters.sent_messages.add(done);
    shared_->cursor.set(cursor_.id());
  }
  if (static_cast<std::size_t>(n) < frames_.bytes()) {
    conn_.want_writable(true);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- TLS

void TcpDestination::flush_tls(TlsSession& tls) {
  for (int i = 0; i < kWritesPerWake && conn_.up(); ++i) {
    if (!(progress_.carrying() ? write_carry_tls(tls) : write_batch_tls(tls))) return;
  }
  if (conn_.up()) conn_.want_writable(true);
}

// After a TLS write: false (and the right watcher state) when nothing more can be written now.
bool TcpDestination::tls_wrote(TlsStep step, const TlsSession& tls) {
  tls_pending_ = step == TlsStep::want_read || step == TlsStep::want_write;
  switch (step) {
    case TlsStep::done: return true;
    case TlsStep::want_write: conn_.want_writable(true); return false;
    case TlsStep::want_read: conn_.want_readable_for_write(); return false;
    case TlsStep::closed:
    case TlsStep::failed: conn_.fail("TLS write: " + tls.error()); return false;
  }
  return false;
}

bool TcpDestination::write_carry_tls(TlsSession& tls) {
  const std::span<const char> rest = progress_.carry_rest();
  const TlsSession::Written w = tls.write(rest.data(), rest.size());
  shared_->counters.sent_bytes.add(w.bytes);
  const std::size_t messages = progress_.carried_messages();
  const bool complete = progress_.carry_written(w.bytes);
  if (complete) shared_->counters.sent_messages.add(messages);
  return tls_wrote(w.step, tls) && complete;
}

// How many of the `have` peeked messages make about kTlsGather framed bytes (at least one).
std::size_t TcpDestination::tls_batch(std::size_t have) const noexcept {
  std::size_t take = 0;
  for (std::size_t bytes = 0; take < have && bytes < kTlsGather; ++take) bytes += views_[take].record_size();
  return take;
}

// The framed batch (the partial skip applied) into tls_buf_, cut at its size; returns the bytes.
std::size_t TcpDestination::gather_tls() {
  std::size_t len = 0;
  for (std::size_t i = 0; i < frames_.iov_count() && len < tls_buf_.size(); ++i) {
    const std::size_t n = std::min(frames_.iov()[i].iov_len, tls_buf_.size() - len);
    std::memcpy(tls_buf_.data() + len, frames_.iov()[i].iov_base, n);
    len += n;
  }
  return len;
}

// One gathered batch through the session; its bytes are accounted as write_batch does a
// sendmsg's. True when all of it went and more may be queued.
bool TcpDestination::write_batch_tls(TlsSession& tls) {
  const std::size_t have = cursor_.peek(views_);
  if (have == 0) {
    conn_.want_writable(false);
    return false;
  }
  const std::size_t framed =
      frames_.build(shared_->endpoint.framing, std::span(views_.data(), tls_batch(have)), progress_.partial());
  const std::size_t len = gather_tls();
  const TlsSession::Written w = tls.write(tls_buf_.data(), len);
  const std::size_t done = progress_.account(w.bytes, frames_.ends().first(framed));
  cursor_.advance(std::span(views_).first(done));
  shared_->counters.sent_messages.add(done);
  shared_->counters.sent_bytes.add(w.bytes);
  shared_->cursor.set(cursor_.id());
  return tls_wrote(w.step, tls);
}

bool TcpDestination::reached(std::uint64_t target) const {
  return !progress_.mid_message() && published().id() >= target;
}

void TcpDestination::refresh_gauges() {
  publish_cursor();
  shared_->lag_since_ns.set(published().lag_since_ns());
}

}  // namespace relay
