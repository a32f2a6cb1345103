// tcp_client: a TCP ingest client for relayd's tcp@ listeners.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "unique_fd.hpp"

namespace relay::test {

class TcpClient {
 public:
  // Connects to 127.0.0.1:port (blocking); records a failure if it cannot.
  explicit TcpClient(std::uint16_t port);

  bool connected() const { return fd_.valid(); }
  // Writes everything; false if the peer is gone.
  bool send_all(std::string_view bytes);
  // Waits (scaled) for the peer to close or reset the connection; false on timeout.
  bool wait_closed_by_peer(std::chrono::milliseconds timeout);

 private:
  UniqueFd fd_;
};

}  // namespace relay::test
