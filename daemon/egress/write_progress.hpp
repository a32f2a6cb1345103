// write_progress: what one destination's writes have achieved on the current connection — how
// many messages a write completed, how much of a cut message is already on the wire, and a
// message kept aside to finish when the eviction floor overtook it half-written.
//
// A TCP write may stop anywhere. Messages written whole move the cursor; the written part of the
// message the write cut (`partial`) is skipped by the next write, so the peer gets each frame
// once and whole. When the connection is lost the cut message goes again, whole, on the next
// one. No sockets here: Destination does the writing, this class the arithmetic.
// Thread: client thread only.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace relay {

class WriteProgress {
 public:
  // Bytes of the message at the cursor already written on this connection.
  std::size_t partial() const noexcept { return partial_; }
  // A message is half on the wire (partial, or a carried message not finished).
  bool mid_message() const noexcept { return partial_ > 0 || carrying(); }

  // After a write of `written` bytes of a batch whose messages end at `ends` (framed bytes from
  // the start of the batch's first message, partial() included): returns how many messages are
  // now whole, and keeps what was written of the next one as partial().
  std::size_t account(std::size_t written, std::span<const std::size_t> ends) noexcept;

  // The `messages` messages from the cursor, framed, are to be finished from here (partial() of
  // the first is written); the cursor may move on. More than one when a TLS record holding
  // several is already committed to the session (destination.hpp).
  void carry(std::string framed, std::size_t messages = 1);
  bool carrying() const noexcept { return !carry_.empty(); }
  std::size_t carried_messages() const noexcept { return carry_messages_; }
  // What is left to write of the carried message.
  std::span<const char> carry_rest() const noexcept;
  // `n` more bytes of the carried message were written; true when it is complete.
  bool carry_written(std::size_t n) noexcept;

  // The connection is gone: a cut message starts again from its first byte on the next one.
  // Returns true when a message was cut (counted as resent_partial).
  bool connection_lost() noexcept;

 private:
  std::size_t partial_ = 0;
  std::string carry_;
  std::size_t carry_sent_ = 0;
  std::size_t carry_messages_ = 0;
};

}  // namespace relay
