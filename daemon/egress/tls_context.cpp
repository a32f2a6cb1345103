#include "tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>

#include "tls_credentials.hpp"
#include "tls_reason.hpp"

namespace relay {
namespace {

struct CtxDeleter {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxDeleter>;

}  // namespace

std::shared_ptr<const TlsContext> TlsContext::build(const Endpoint& ep) {
  if (!ep.tls) throw std::logic_error("TlsContext::build on a plain tcp destination");
  const TlsOptions& o = *ep.tls;
  ERR_clear_error();
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) refuse_tls_address(ep, "cannot create a TLS context: " + tls_error_queue_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Partial writes: SSL_write returns after each record, so a write's byte count says which
  // messages are on the wire. Moving buffer: a retried write may come from another buffer with
  // the same bytes (a message carried aside when the eviction floor passed it).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (o.verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (o.ca.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1)
        refuse_tls_address(ep, "cannot load the system's trust store: " + tls_error_queue_reason());
    } else {
      load_trusted_cas(ep, ctx.get(), "ca", o.ca);
    }
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    if (!o.ca.empty()) read_tls_file(ep, "ca", o.ca);  // still checked: a typo should not wait for verify=1
  }
  if (!o.cert.empty()) load_certificate_and_key(ep, ctx.get(), o.cert, o.key);
  const std::string ip = o.sni.empty() ? ep.host.substr(0, ep.host.find('%')) : std::string{};
  return std::shared_ptr<const TlsContext>(new TlsContext(ctx.release(), o, ip));
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace relay
