// tls_client: a TLS ingest client for relayd's tls@ listeners — OpenSSL over a blocking socket,
// every call bounded by socket timeouts. It checks the listener's certificate against a CA (the
// name 127.0.0.1), presents a client certificate when given one, and writes bytes (lp32le frames
// from the test) like TcpClient.
//
// With TLS 1.3 the server judges a client certificate after the client's handshake has finished:
// a refused client may see its handshake succeed and the connection end on its first read
// (wait_closed_by_peer), so tests check relayd's counters, not only handshake_ok().
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "unique_fd.hpp"

struct ssl_ctx_st;
struct ssl_st;

namespace relay::test {

class TlsClient {
 public:
  struct Options {
    std::string ca_pem;    // verify the listener against this CA; empty: no verification
    std::string cert_pem;  // a client certificate and its key; empty: none
    std::string key_pem;
  };
  // Connects to 127.0.0.1:port (a failure to connect is a test failure) and shakes hands.
  TlsClient(std::uint16_t port, const Options& options);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool handshake_ok() const { return established_; }
  const std::string& error() const { return error_; }  // why the handshake failed
  // Writes everything over TLS; false if the session or the connection is gone.
  bool send_all(std::string_view bytes);
  // Waits (scaled) for relayd to end the session or the connection; false on timeout.
  bool wait_closed_by_peer(std::chrono::milliseconds timeout);

 private:
  UniqueFd fd_;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
  bool established_ = false;
  std::string error_;
};

}  // namespace relay::test
