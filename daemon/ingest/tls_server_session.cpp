#include "tls_server_session.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <climits>
#include <stdexcept>

#include "tls_reason.hpp"

namespace relay {

TlsServerSession::TlsServerSession(const TlsServerContext& ctx, int fd) : ssl_(SSL_new(ctx.ctx())) {
  if (ssl_ == nullptr) throw std::runtime_error("SSL_new: " + tls_error_queue_reason());
  SSL_set_fd(ssl_, fd);  // the socket stays the listener's to close (BIO_NOCLOSE)
  SSL_set_accept_state(ssl_);
}

TlsServerSession::~TlsServerSession() { SSL_free(ssl_); }

std::string TlsServerSession::agreed() const {
  return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

// Each call starts on an empty error queue and errno, which tls_step_of reads (tls_step.hpp).
TlsStep TlsServerSession::handshake() {
  ERR_clear_error();
  errno = 0;
  const int ret = SSL_accept(ssl_);
  if (ret != 1) return tls_step_of(ssl_, ret, error_);
  established_ = true;
  return TlsStep::done;
}

TlsServerSession::Read TlsServerSession::read(std::span<std::byte> room) {
  ERR_clear_error();
  errno = 0;
  const int ret = SSL_read(ssl_, room.data(), static_cast<int>(std::min<std::size_t>(room.size(), INT_MAX)));
  if (ret > 0) return Read{static_cast<std::size_t>(ret), TlsStep::done};
  return Read{0, tls_step_of(ssl_, ret, error_)};
}

bool TlsServerSession::pending() const noexcept { return SSL_pending(ssl_) > 0; }

}  // namespace relay
