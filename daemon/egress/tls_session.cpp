#include "tls_session.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <climits>
#include <stdexcept>

#include "tls_reason.hpp"

namespace relay {

TlsSession::TlsSession(const TlsContext& ctx, int fd) : ssl_(SSL_new(ctx.ctx())) {
  if (ssl_ == nullptr) throw std::runtime_error("SSL_new: " + tls_error_queue_reason());
  SSL_set_fd(ssl_, fd);
  SSL_set_connect_state(ssl_);
  const TlsOptions& o = ctx.options();
  if (!o.sni.empty()) {
    SSL_set_tlsext_host_name(ssl_, o.sni.c_str());
    if (o.verify) SSL_set1_host(ssl_, o.sni.c_str());
  } else if (o.verify) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), ctx.ip().c_str());
  }
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

std::string TlsSession::agreed() const { return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_); }

void TlsSession::close_notify() noexcept {
  ERR_clear_error();
  SSL_shutdown(ssl_);  // one try: WANT_WRITE or an error just means the peer does not get it
  ERR_clear_error();
}

// SSL_get_error needs an empty error queue before the call it explains: each call clears it.
TlsStep TlsSession::classify(int ret) { return tls_step_of(ssl_, ret, error_); }

TlsStep TlsSession::handshake() {
  ERR_clear_error();
  errno = 0;
  const int ret = SSL_connect(ssl_);
  return ret == 1 ? TlsStep::done : classify(ret);
}

TlsSession::Written TlsSession::write(const void* data, std::size_t len) {
  const auto* bytes = static_cast<const char*>(data);
  std::size_t taken = 0;
  while (taken < len) {
    const int chunk = static_cast<int>(std::min<std::size_t>(len - taken, INT_MAX));
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_write(ssl_, bytes + taken, chunk);
    if (ret <= 0) return Written{taken, classify(ret)};
    taken += static_cast<std::size_t>(ret);
  }
  return Written{taken, TlsStep::done};
}

TlsStep TlsSession::drain_reads() {
  char scratch[4096];
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_read(ssl_, scratch, sizeof scratch);
    if (ret <= 0) {
      const TlsStep step = classify(ret);
      return step == TlsStep::want_write ? TlsStep::want_read : step;
    }
  }
}

}  // namespace relay
