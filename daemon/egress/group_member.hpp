// group_member: one TCP member of a destination group (group_publisher.hpp) — its connection
// (connection.hpp: connect, backoff, keepalive), the framed copies of the messages the group gave
// it, and which of them the peer's TCP acknowledged (SIOCOUTQ, as an at-least-once tcp@
// destination reads it).
//
// A group has one cursor in the queue, so a member cannot send from queue memory the way a tcp@
// destination does: the group copies each message it picks the member for into the member's
// buffer, framed. What the member holds is bounded by the group's window (messages in flight).
// When the connection breaks, every message it had not had acknowledged is reported lost, and
// the group's destination sends them again (to whichever members are healthy then).
//
// Thread: client thread only.
#pragma once

#include <ev.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>

#include "connection.hpp"
#include "destination_shared.hpp"

namespace relay {

// What a member tells its group, on the client thread.
class GroupMemberEvents {
 public:
  // The copy of message `id` sent as `generation` was acknowledged by the member's TCP.
  virtual void member_acked(std::uint64_t id, std::uint32_t generation) = 0;
  // That copy is lost with the connection.
  virtual void member_lost(std::uint64_t id, std::uint32_t generation, std::string_view why) = 0;
  // The member came up, went down, or has room again.
  virtual void member_changed() = 0;

 protected:
  ~GroupMemberEvents() = default;
};

class GroupMember final : private ConnectionOwner {
 public:
  GroupMember(struct ev_loop* loop, const Endpoint& endpoint, const DestinationConfig& cfg, GroupMemberEvents& group);
  ~GroupMember();
  GroupMember(const GroupMember&) = delete;
  GroupMember& operator=(const GroupMember&) = delete;

  void start() { conn_.start(); }
  bool up() const noexcept { return conn_.up(); }
  // Bytes given to it and not acknowledged yet: how far behind it is (any@ picks the least).
  std::uint64_t backlog() const noexcept { return queued_ - acked_; }
  // Holds so many unwritten bytes that the group should wait for it.
  bool full() const noexcept;
  // Frames `payload` into the buffer and writes what the socket takes.
  void send(std::uint64_t id, std::uint32_t generation, std::span<const std::byte> payload);
  void poll_acks();
  void set_timing(const DestinationConfig& cfg) { conn_.set_timing(cfg); }
  const DestinationShared& shared() const noexcept { return shared_; }

 private:
  void on_connected() override;
  void on_writable() override { flush(); }
  void on_lost(bool was_connected) override;
  void before_close() override { poll_acks(); }

  void flush();
  void append_frame(std::span<const std::byte> payload);
  static void on_ack_timer(struct ev_loop* loop, ev_timer* w, int revents);
  static void on_prepare(struct ev_loop* loop, ev_prepare* w, int revents);

  struct Copy {
    std::uint64_t wire_end;  // where its last byte lies in this connection's byte stream
    std::uint64_t id;
    std::uint32_t generation;
  };

  struct ev_loop* loop_;
  GroupMemberEvents& group_;
  DestinationShared shared_;  // the member's own counters and state (the Connection's), not shown alone
  std::string out_;           // framed bytes; out_[written_from_..] not yet written
  std::size_t written_from_ = 0;
  std::deque<Copy> copies_;    // given to it, not acknowledged, oldest first
  std::uint64_t queued_ = 0;   // bytes framed into this connection's stream
  std::uint64_t written_ = 0;  // of which written to the socket
  std::uint64_t acked_ = 0;    // of which acknowledged
  std::uint64_t polled_at_ = 0;
  ev_timer ack_timer_{};
  ev_prepare prepare_{};  // a write before the loop sleeps
  Connection conn_;       // last: its watchers stop before the rest goes
};

}  // namespace relay
