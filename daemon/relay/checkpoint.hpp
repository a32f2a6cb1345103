// checkpoint: every destination's position recorded in the data directory (--data-dir), so a
// restart resumes each one where it stopped (QUEUE.md "Recovery").
//
// DATA_DIR/positions, rewritten whole (a temporary file, then rename; with --fsync interval or
// always also fsync of the file and the directory) every --sync-interval and at shutdown:
//
//   relayd-positions 1
//   tcp@127.0.0.1:2009 1234567        <- the destination's cursor: its first message not delivered
//   checksum fnv1a64 0123456789abcdef <- of every byte before this line
//
// A missing or damaged file is not fatal: destinations then start at the oldest recovered
// message, so nothing is lost and the duplicates are counted (logged at start-up).
// Thread: load() at start-up; save() on the background thread, then once more at shutdown.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "log_limiter.hpp"
#include "queue_config.hpp"

namespace relay {

struct RecordedPosition {
  std::string address;  // canonical destination address
  std::uint64_t id = 0;
};

class Checkpoint {
 public:
  inline static constexpr const char* kFileName = "positions";

  Checkpoint(std::string dir, Fsync fsync);

  // The positions written last, by peer (runtime_state.hpp's peer_key); nullopt when there is no
  // usable file (why is logged).
  std::optional<std::map<std::string, std::uint64_t>> load() const;
  // Records `positions`; a file equal to the last one written is not written again. Returns
  // false (logged, at most once a minute) when the file could not be written.
  bool save(const std::vector<RecordedPosition>& positions);

  const std::string& file() const noexcept { return file_; }

 private:
  std::string dir_, file_, temp_;
  Fsync fsync_;
  std::string last_;                      // text of the last file written
  LogLimiter error_log_{60'000'000'000};  // an unwritable file: one line a minute
};

// The text of a positions file, and back (nullopt, with `why`, for anything but a whole file).
std::string format_positions(const std::vector<RecordedPosition>& positions);
std::optional<std::vector<RecordedPosition>> parse_positions(const std::string& text, std::string& why);

}  // namespace relay
