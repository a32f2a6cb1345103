#include "destination.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace relay {

namespace {

// Writes per wake-up before yielding to the loop, so one busy destination cannot starve others.
constexpr int kWritesPerWake = 16;

}  // namespace

Destination::Destination(struct ev_loop* loop, Queue& queue, std::shared_ptr<DestinationShared> shared, StartAt start,
                         const DestinationConfig& cfg)
    : shared_(std::move(shared)),
      cursor_(queue, start),
      views_(FrameBatch::kMaxMessages),
      conn_(loop, *shared_, cfg, *this) {
  shared_->cursor.set(cursor_.id());
}

void Destination::on_lost(bool was_connected) {
  if (progress_.connection_lost() && was_connected) shared_->counters.resent_partial.add();
}

void Destination::on_data() {
  apply_floor();
  // Waiting for socket space already: the write watcher calls flush() when there is some.
  if (conn_.up() && !conn_.awaiting_writable()) flush();
}

// The slow-destination policy, consumer side: when the queue budget forced the floor past our
// cursor, jump to it and count what we skipped. A half-written message is kept aside and
// finished first, so the peer never sees a cut frame.
void Destination::apply_floor() {
  const bool carried_now = progress_.partial() > 0 && cursor_.below_floor() && keep_partial_message();
  const std::uint64_t skipped = cursor_.skip_to_floor();
  if (skipped == 0) return;
  // A message carried by this skip is among the skipped ids but will still be delivered. One
  // carried by an earlier skip lies before the cursor already: it is not among these.
  shared_->counters.dropped_lagging.add(carried_now ? skipped - 1 : skipped);
  shared_->cursor.set(cursor_.id());
}

// Frames the half-written message at the cursor alone and hands it to progress_ (rare: only when
// the floor overtakes a destination in the middle of a message). True when it did.
bool Destination::keep_partial_message() {
  MessageView first;
  if (cursor_.peek(std::span(&first, 1)) != 1) return false;
  frames_.build(shared_->endpoint.framing, std::span(&first, 1), 0);
  std::string framed;
  for (std::size_t i = 0; i < frames_.iov_count(); ++i)
    framed.append(static_cast<const char*>(frames_.iov()[i].iov_base), frames_.iov()[i].iov_len);
  progress_.carry(std::move(framed));
  return true;
}

void Destination::flush() {
  for (int i = 0; i < kWritesPerWake && conn_.up(); ++i) {
    if (!(progress_.carrying() ? write_carry() : write_batch())) return;
  }
  // Still more to send after our share of this wake-up: come back when the loop polls again.
  if (conn_.up()) conn_.want_writable(true);
}

// After a send: false (and the right watcher state) when nothing more can be written now.
bool Destination::wrote(ssize_t n) {
  if (n >= 0) return true;
  if (errno == EAGAIN || errno == EINTR)
    conn_.want_writable(true);
  else
    conn_.fail(std::string("write: ") + std::strerror(errno));
  return false;
}

// Returns true when the carried message is fully written.
bool Destination::write_carry() {
  const std::span<const char> rest = progress_.carry_rest();
  const ssize_t n = send(conn_.fd(), rest.data(), rest.size(), MSG_NOSIGNAL);
  if (!wrote(n)) return false;
  shared_->counters.sent_bytes.add(static_cast<std::uint64_t>(n));
  if (!progress_.carry_written(static_cast<std::size_t>(n))) {
    conn_.want_writable(true);
    return false;
  }
  shared_->counters.sent_messages.add();
  return true;
}

// One sendmsg of as many queued messages as fit. Returns true when everything framed went out
// and more may be queued; false when caught up, the socket is full, or the connection failed.
bool Destination::write_batch() {
  const std::size_t have = cursor_.peek(views_);
  if (have == 0) {
    conn_.want_writable(false);
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
  shared_->counters.sent_messages.add(done);
  shared_->counters.sent_bytes.add(static_cast<std::uint64_t>(n));
  shared_->cursor.set(cursor_.id());
  if (static_cast<std::size_t>(n) < frames_.bytes()) {
    conn_.want_writable(true);
    return false;
  }
  return true;
}

bool Destination::reached(std::uint64_t target) const { return !progress_.mid_message() && cursor_.id() >= target; }

void Destination::refresh_gauges() {
  shared_->cursor.set(cursor_.id());
  shared_->lag_since_ns.set(cursor_.lag_since_ns());
}

}  // namespace relay
