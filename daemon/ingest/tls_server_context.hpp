// tls_server_context: one tls@ listener's OpenSSL server context (SSL_CTX), built from its
// address's options (endpoint.hpp TlsOptions: cert=, key=, client_ca=) when the listener is
// created, and shared by every connection it accepts (tls_server_session.hpp).
//
// Building reads and checks the files then, so a bad one fails start-up with one line naming it
// (tls_credentials.hpp), never later on the server thread. With client_ca=, a client must present
// a certificate that CA signed, or its handshake fails (mutual TLS).
//
// Thread: built on the main thread; then read-only, used by the server thread.
#pragma once

#include <memory>

#include "endpoint.hpp"

struct ssl_ctx_st;

namespace relay {

class TlsServerContext {
 public:
  // Throws EndpointError ("bad address \"tls@...\": ...") naming the file and what is wrong.
  static std::shared_ptr<const TlsServerContext> build(const Endpoint& ep);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  ssl_ctx_st* ctx() const noexcept { return ctx_; }

 private:
  explicit TlsServerContext(ssl_ctx_st* ctx) noexcept : ctx_(ctx) {}

  ssl_ctx_st* ctx_;
};

}  // namespace relay
