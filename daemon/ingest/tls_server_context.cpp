#include "tls_server_context.hpp"

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

}  // namespace

std::shared_ptr<const TlsServerContext> TlsServerContext::build(const Endpoint& ep) {
  if (!ep.tls) throw std::logic_error("TlsServerContext::build on a plain tcp listener");
  const TlsOptions& o = *ep.tls;
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, CtxDeleter> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) refuse_tls_address(ep, "cannot create a TLS context: " + tls_error_queue_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // An idle connection gives its record buffers back: memory follows what arrives, as for tcp@.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  // A connection's end without close_notify is an ordinary close, as on tcp@: the frames say
  // whether anything was cut (dropped_partial_frames), so it is no receive error.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  // No resumption (no tickets, no session cache): ingest connections live long, and a client
  // that only writes would leave tickets unread, so its close would reach relayd as a reset.
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  load_certificate_and_key(ep, ctx.get(), o.cert, o.key);
  if (!o.client_ca.empty()) {
    load_trusted_cas(ep, ctx.get(), "client_ca", o.client_ca);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  return std::shared_ptr<const TlsServerContext>(new TlsServerContext(ctx.release()));
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

}  // namespace relay
