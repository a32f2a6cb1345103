// ingest_test_util: what only the listener tests share: the port of a listener's reported address,
// and reading back what a ServerThread appended to a real Queue through a real Cursor. Sockets,
// senders and bounded waits come from tests/support.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cursor.hpp"
#include "queue.hpp"
#include "timeouts.hpp"

namespace relay::test {

// How long a listener test waits for an effect before calling it a hang (scaled by wait_until).
inline constexpr std::chrono::milliseconds kIngestWait{10'000};

// "udp@127.0.0.1:40000" -> 40000: the form ServerThread::listeners() reports.
inline std::uint16_t port_of(const std::string& address) {
  return static_cast<std::uint16_t>(std::stoul(address.substr(address.rfind(':') + 1)));
}

// Everything published so far, read with a cursor that joined at the oldest message; waits
// (bounded) until `expected` messages are readable, then returns what it read.
inline std::vector<std::string> read_messages(Queue& queue, std::size_t expected) {
  Cursor cursor(queue, StartAt::head);
  std::vector<std::string> out;
  std::vector<MessageView> views(64);
  wait_until(
      [&] {
        const std::size_t n = cursor.peek(views);
        for (std::size_t i = 0; i < n; ++i)
          out.emplace_back(reinterpret_cast<const char*>(views[i].payload), views[i].size);
        cursor.advance(std::span(views).first(n));
        return out.size() >= expected;
      },
      kIngestWait);
  return out;
}

}  // namespace relay::test
