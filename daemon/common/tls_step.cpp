#include "tls_step.hpp"

#include <openssl/ssl.h>

#include <cerrno>

#include "tls_reason.hpp"

namespace relay {

TlsStep tls_step_of(const ssl_st* ssl, int ret, std::string& reason) {
  const int err = errno;
  const int code = SSL_get_error(ssl, ret);
  switch (code) {
    case SSL_ERROR_WANT_READ: return TlsStep::want_read;
    case SSL_ERROR_WANT_WRITE: return TlsStep::want_write;
    default: break;
  }
  reason = tls_failure_reason(ssl, code, err);
  return code == SSL_ERROR_ZERO_RETURN || (code == SSL_ERROR_SYSCALL && err == 0) ? TlsStep::closed : TlsStep::failed;
}

}  // namespace relay
