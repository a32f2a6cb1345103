// queue_config: the queue's sizes, fixed for its life.
#pragma once

#include <cstddef>
#include <cstdint>

namespace relay {

struct QueueConfig {
  std::size_t max_queue_bytes = std::size_t{256} << 20;  // --max-queue-bytes
  std::size_t segment_bytes = std::size_t{1} << 20;      // fixed; must hold the largest record
  std::uint32_t max_message = 65507;                     // --max-message-size
  std::size_t max_cursors = 1024;
};

}  // namespace relay
