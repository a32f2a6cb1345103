// queue_config: the queue's sizes, fixed for its life.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace relay {

// When segment files are written back to the disk (--fsync, QUEUE.md "Durability").
enum class Fsync {
  never,     // by the kernel, when it likes: a crash of relayd loses nothing, a power loss may
  interval,  // every sync interval (the background thread): a power loss loses at most that
  always,    // before each batch is handed to destinations (the server thread waits for the disk)
};

struct QueueConfig {
  std::size_t max_queue_bytes = std::size_t{256} << 20;  // --max-queue-bytes: memory (resident with a data dir)
  std::size_t segment_bytes = std::size_t{1} << 20;      // fixed; must hold the largest record
  std::uint32_t max_message = 65507;                     // --max-message-size
  std::size_t max_cursors = 1024;
  std::string data_dir{};                             // --data-dir; empty: segments in memory only
  std::size_t max_disk_bytes = std::size_t{1} << 30;  // --max-disk-bytes: segment files, with a data dir
  Fsync fsync = Fsync::interval;                      // --fsync
};

}  // namespace relay
