#include "tls_client.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "sockets.hpp"
#include "timeouts.hpp"

namespace relay::test {
namespace {

constexpr std::chrono::milliseconds kCallTimeout = 10s;

template <typename T, typename Read>
T* read_pem(const std::string& pem, Read read) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  T* out = read(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (out == nullptr) throw std::runtime_error("TlsClient: bad PEM");
  return out;
}

void trust(SSL_CTX* ctx, const std::string& ca_pem) {
  X509* ca = read_pem<X509>(ca_pem, PEM_read_bio_X509);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
  X509_free(ca);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
}

void present(SSL_CTX* ctx, const std::string& cert_pem, const std::string& key_pem) {
  X509* cert = read_pem<X509>(cert_pem, PEM_read_bio_X509);
  EVP_PKEY* key = read_pem<EVP_PKEY>(key_pem, PEM_read_bio_PrivateKey);
  const bool ok = SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) throw std::runtime_error("TlsClient: bad client certificate or key");
}

// Blocking calls give up after `timeout`, so a test never hangs on a silent peer.
void bound_calls(int fd, std::chrono::milliseconds timeout) {
  const auto ms = scaled(timeout).count();
  const timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string reason(SSL* ssl, int ret) {
  const int code = SSL_get_error(ssl, ret);
  const unsigned long queued = ERR_get_error();
  ERR_clear_error();
  if (queued != 0) return ERR_reason_error_string(queued) ? ERR_reason_error_string(queued) : "TLS error";
  return "SSL error " + std::to_string(code) + " (" + std::strerror(errno) + ")";
}

}  // namespace

TlsClient::TlsClient(std::uint16_t port, const Options& options) {
  // SSL_write cannot pass MSG_NOSIGNAL: a write after relayd closed must fail, not kill the test.
  ::signal(SIGPIPE, SIG_IGN);
  const SocketAddress a = make_address("127.0.0.1", port);
  fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_ || ::connect(fd_.get(), a.get(), a.len) != 0) {
    ADD_FAILURE() << "connect to 127.0.0.1:" << port << " failed: " << std::strerror(errno);
    fd_.reset();
    return;
  }
  bound_calls(fd_.get(), kCallTimeout);
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!options.ca_pem.empty()) trust(ctx_, options.ca_pem);
  if (!options.cert_pem.empty()) present(ctx_, options.cert_pem, options.key_pem);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_.get());
  if (!options.ca_pem.empty()) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
  ERR_clear_error();
  const int ret = SSL_connect(ssl_);
  established_ = ret == 1;
  if (!established_) error_ = reason(ssl_, ret);
}

TlsClient::~TlsClient() {
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
}

bool TlsClient::send_all(std::string_view bytes) {
  if (!established_) return false;
  while (!bytes.empty()) {
    ERR_clear_error();
    const int n = SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 20)));
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool TlsClient::wait_closed_by_peer(std::chrono::milliseconds timeout) {
  if (!fd_) return false;
  const auto deadline = Clock::now() + scaled(timeout);
  bound_calls(fd_.get(), 100ms);  // each read gives up soon, so the deadline is kept
  char buf[4096];
  while (Clock::now() < deadline) {
    ERR_clear_error();
    errno = 0;
    const int n = ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof buf) : -1;
    if (n > 0) continue;
    const int code = SSL_get_error(ssl_, n);
    const bool timed_out = code == SSL_ERROR_WANT_READ ||
                           (code == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
    if (!timed_out) return true;  // close_notify, an alert, a reset or an end of file
  }
  return false;
}

}  // namespace relay::test
