// tls_context: one tls@ destination's OpenSSL client context (SSL_CTX), built from its address's
// options (endpoint.hpp TlsOptions) when the destination is added, and shared by every
// connection it makes (tls_session.hpp).
//
// Building reads and checks the files then, so a bad option is refused at start-up or by the API
// (INVALID_ARGUMENT), never found later on the client thread: the CA bundle must hold at least one
// certificate, the client certificate and key must parse and the key must be the certificate's.
// Verification is on unless verify=0; the name checked is sni= (or the HOST name), else the IP.
//
// Thread: built on the caller's thread (main or control); then read-only, used by the client
// thread. SSL_CTX is reference counted and safe to make SSL objects from.
#pragma once

#include <memory>
#include <string>

#include "endpoint.hpp"

struct ssl_ctx_st;

namespace relay {

class TlsContext {
 public:
  // Throws EndpointError ("bad address \"tls@...\": ...") naming the file and what is wrong.
  static std::shared_ptr<const TlsContext> build(const Endpoint& ep);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* ctx() const noexcept { return ctx_; }
  const TlsOptions& options() const noexcept { return options_; }
  // The address literal checked against the certificate's IP SANs when there is no name.
  const std::string& ip() const noexcept { return ip_; }

 private:
  TlsContext(ssl_ctx_st* ctx, TlsOptions options, std::string ip) noexcept
      : ctx_(ctx), options_(std::move(options)), ip_(std::move(ip)) {}

  ssl_ctx_st* ctx_;
  const TlsOptions options_;
  const std::string ip_;
};

}  // namespace relay
