// tls_session: one TLS connection (an SSL object) over a destination's connected, non-blocking
// TCP socket. It never blocks: every call says whether it finished or what the socket must
// become (readable or writable) before it is called again; the caller (Connection for the
// handshake and reads, Destination for writes) drives its libev watchers accordingly.
//
// Thread: client thread only.
#pragma once

#include <cstddef>
#include <string>

#include "tls_context.hpp"
#include "tls_step.hpp"

struct ssl_st;

namespace relay {

class TlsSession {
 public:
  // Throws std::runtime_error when OpenSSL cannot make the SSL object (out of memory).
  TlsSession(const TlsContext& ctx, int fd);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // One step of the client handshake (SSL_connect).
  TlsStep handshake();

  struct Written {
    std::size_t bytes;  // plaintext bytes the session took, whole records on their way
    TlsStep step;       // done when all `len` were taken
  };
  // Writes `len` bytes in as many SSL_write calls (one record each) as the socket takes. After
  // want_read/want_write, the next write must start with the bytes not taken (same bytes, any
  // buffer, at least as many).
  Written write(const void* data, std::size_t len);

  // Reads and discards what the peer sent (session tickets, a close_notify, stray data): done
  // or want_read while the session is fine.
  TlsStep drain_reads();

  // Sends close_notify if the socket takes it now (never waits): the peer can tell a
  // deliberate end (the destination removed, relayd stopping) from a cut connection.
  void close_notify() noexcept;

  const std::string& error() const noexcept { return error_; }
  // "TLSv1.3 TLS_AES_256_GCM_SHA384": what the handshake agreed, for the connected log line.
  std::string agreed() const;

 private:
  TlsStep classify(int ret);

  ssl_st* ssl_;
  std::string error_;
};

}  // namespace relay
