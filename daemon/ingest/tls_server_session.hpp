// tls_server_session: the TLS side of one accepted tls@ ingest connection (an SSL object in the
// server role over the connection's non-blocking socket). It never blocks: each call says whether
// it finished or what the socket must become (readable or writable) before it is called again;
// the listener (tcp_listener.hpp) drives the connection's watcher accordingly.
//
// Thread: server thread only.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "tls_server_context.hpp"
#include "tls_step.hpp"

struct ssl_st;

namespace relay {

class TlsServerSession {
 public:
  // Throws std::runtime_error when OpenSSL cannot make the SSL object (out of memory).
  TlsServerSession(const TlsServerContext& ctx, int fd);
  ~TlsServerSession();
  TlsServerSession(const TlsServerSession&) = delete;
  TlsServerSession& operator=(const TlsServerSession&) = delete;

  // One step of the server handshake (SSL_accept); established() once it returned done.
  TlsStep handshake();
  bool established() const noexcept { return established_; }

  struct Read {
    std::size_t bytes;  // plaintext written at the start of the room (0 unless done)
    TlsStep step;
  };
  // One SSL_read into `room` (not empty).
  Read read(std::span<std::byte> room);
  // Plaintext OpenSSL already decrypted and holds: the socket will not wake us for it.
  bool pending() const noexcept;

  const std::string& error() const noexcept { return error_; }
  // "TLSv1.3 TLS_AES_256_GCM_SHA384": what the handshake agreed, for the debug line.
  std::string agreed() const;

 private:
  ssl_st* ssl_;
  bool established_ = false;
  std::string error_;
};

}  // namespace relay
