// tcp_destination: a tcp@ or tls@ destination (destination.hpp): one TCP peer that receives every message — its cursor
// in the queue, its connection (connection.hpp), and the writes that move the cursor (write_progress.hpp).
//
// Each write frames as many queued messages as fit (frame_batch.hpp) and sends them with one
// sendmsg; the messages it completed move the cursor, a message it cut is finished by the next
// write. A message cut by a broken connection is resent whole on the next one, so every
// connection carries whole frames; a message fully written to a connection is never sent again
// (bytes the kernel accepted but the peer never read are lost with the connection — TCP gives no
// way to know them). When the eviction floor overtakes the cursor, the skipped messages are
// counted as dropped_lagging, and a message half on the wire is finished first.
//
// A tls@ destination writes the same batches through its connection's TLS session: the framed
// batch (up to kTlsGather bytes of it) is gathered into one buffer and handed to SSL_write,
// which takes it a record at a time; the bytes it took move the cursor exactly as a sendmsg's
// would. One branch per flush picks the path, so plain TCP's loop is untouched. A record the
// session took but could not send yet (want_read/want_write) is retried with the same bytes,
// which the next batch starts with; if the eviction floor overtakes the cursor meanwhile, the
// messages such a record may hold are carried aside whole, like a half-written message.
//
// At-least-once (the default for tcp@, destination_acks.cpp): a second cursor, the acknowledged
// one, trails the write cursor by what the peer's TCP has not acknowledged yet (SIOCOUTQ: bytes
// written minus bytes in the socket's send queue, mapped back to whole messages by their framed
// sizes). It is the destination's published cursor, so the reclaimer keeps those messages, and
// `sent_messages` counts a message when it is acknowledged. When a connection breaks, the write
// cursor goes back to the acknowledged one and the next connection sends those messages again
// (`resent_unacked`: possible duplicates). What TCP cannot tell is lost with a peer that
// crashes: bytes its kernel acknowledged that the process had not read yet. When the queue
// budget's floor overtakes the acknowledged cursor, the unacknowledged messages are counted as
// sent and no longer resent (their memory is needed). tls@ and delivery=at-most-once
// destinations have no second cursor: a message is sent when written, as before.
//
// Thread: client thread only; what other threads read is in DestinationShared.
#pragma once

#include <ev.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "connection.hpp"
#include "cursor.hpp"
#include "destination.hpp"
#include "egress_config.hpp"
#include "frame_batch.hpp"
#include "write_progress.hpp"

namespace relay {

class TcpDestination final : public Destination, private ConnectionOwner {
 public:
  // `resume`: a position recorded in the data directory before a restart; the cursor starts
  // there (joined at the head, then walked forward) instead of at `start`.
  TcpDestination(struct ev_loop* loop, Queue& queue, std::shared_ptr<DestinationShared> shared, StartAt start,
                 const DestinationConfig& cfg, std::optional<std::uint64_t> resume = std::nullopt);
  ~TcpDestination() override;

  void start() override { conn_.start(); }  // first connection attempt
  void on_data() override;
  void begin_drain() override { conn_.set_draining(); }
  void set_timing(const DestinationConfig& cfg) override { conn_.set_timing(cfg); }  // see Connection
  // Every message before `target` fully written, and (at-least-once) acknowledged.
  bool reached(std::uint64_t target) const override;
  // At-least-once: reads what the peer's TCP acknowledged and moves the acknowledged cursor.
  void poll_acks() override;
  // Being removed: what is written but unacknowledged counts as sent (no connection will resend it).
  void settle_unacked() override;
  bool mid_message() const noexcept override { return progress_.mid_message(); }
  // The drain target that completes the half-written message (see mid_message()).
  std::uint64_t message_in_progress_end() const noexcept override {
    return cursor_.id() + (progress_.partial() > 0 ? 1 : 0);
  }
  // The lag, and a carried message not yet finished (which lies before the cursor).
  std::uint64_t unsent(std::uint64_t tail) const override {
    return (tail > cursor_.id() ? tail - cursor_.id() : 0) + progress_.carried_messages();
  }
  void refresh_gauges() override;
  std::uint64_t unacked() const noexcept { return acked_ ? cursor_.id() - acked_->id() : 0; }

 private:
  void on_connected() override { flush(); }
  void on_writable() override { flush(); }
  void on_lost(bool was_connected) override;
  void before_close() override { poll_acks(); }  // the last word on what the peer acknowledged

  // Plaintext bytes gathered for one TLS write; a TLS record holds at most kTlsRecord of them.
  static constexpr std::size_t kTlsGather = 64 * 1024;
  static constexpr std::size_t kTlsRecord = 16 * 1024;

  void flush();
  bool write_carry();
  bool write_batch();
  bool wrote(ssize_t n);
  void flush_tls(TlsSession& tls);
  bool write_carry_tls(TlsSession& tls);
  bool write_batch_tls(TlsSession& tls);
  bool tls_wrote(TlsStep step, const TlsSession& tls);
  std::size_t tls_batch(std::size_t have) const noexcept;
  std::size_t gather_tls();
  void apply_floor();
  std::size_t keep_partial_message();
  void publish_cursor();
  // The cursor other threads see and drains wait for: the acknowledged one when there is one.
  const Cursor& published() const noexcept { return acked_ ? *acked_ : cursor_; }
  // At-least-once (destination_acks.cpp).
  void acknowledged(std::uint64_t wire_bytes);
  void give_up_unacked(std::uint64_t written_end);
  void rewind_unacked();
  void note_written(std::size_t n, bool completed_messages);
  std::uint64_t cursor_wire_offset() const noexcept;
  void await_acks();
  void mark_write();
  std::uint64_t acknowledged_marks(std::uint64_t wire_bytes);
  std::uint64_t acknowledged_messages(std::uint64_t wire_bytes);
  static void on_ack_timer(struct ev_loop* loop, ev_timer* w, int revents);

  Cursor cursor_;
  FrameBatch frames_;
  std::vector<MessageView> views_;
  WriteProgress progress_;
  std::vector<char> tls_buf_;  // tls@ only: the gathered batch
  bool tls_pending_ = false;   // the session holds a record of the bytes at the cursor, unsent
  // At-least-once only. The first message the peer's TCP has not acknowledged; before cursor_.
  std::optional<Cursor> acked_;
  std::vector<MessageView> acked_views_;
  std::uint64_t wire_written_ = 0;  // bytes written on this connection
  std::uint64_t acked_wire_ = 0;    // where acked_'s message starts on this connection's byte stream
  std::uint64_t polled_at_ = 0;     // wire_written_ at the last poll_acks()
  // Where the write cursor stood after recent writes, and where that is in the byte stream: an
  // acknowledgement that covers a whole write moves acked_ there without reading a message.
  struct WriteMark {
    std::uint64_t wire = 0;
    Cursor::Position at;
  };
  static constexpr std::size_t kMarks = 64;
  std::array<WriteMark, kMarks> marks_{};
  std::size_t marks_first_ = 0, marks_count_ = 0;  // a ring
  struct ev_loop* loop_;
  ev_timer ack_timer_{};  // caught up with messages unacknowledged: polls until they are
  Connection conn_;       // last: its watchers stop before the rest goes
};

}  // namespace relay
