#include "tls_reason.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>

namespace relay {

std::string tls_error_queue_reason() {
  const unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return {};
  const char* reason = ERR_reason_error_string(first);
  if (reason != nullptr) return reason;
  char buf[256];
  ERR_error_string_n(first, buf, sizeof buf);
  return buf;
}

std::string tls_failure_reason(const ssl_st* ssl, int code, int err) {
  const long verdict = SSL_get_verify_result(ssl);
  std::string queued = tls_error_queue_reason();
  if (verdict != X509_V_OK) return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verdict);
  if (!queued.empty()) return queued;
  if (code == SSL_ERROR_ZERO_RETURN) return "peer closed the TLS session";
  if (code == SSL_ERROR_SYSCALL)
    return err == 0 ? "peer closed the connection" : std::string("system error: ") + std::strerror(err);
  return "TLS error " + std::to_string(code);
}

}  // namespace relay
