#include "tls_sink.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "sockets.hpp"
#include "timeouts.hpp"

namespace relay::test {
namespace {

BIO* memory_bio(const std::string& pem) { return BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())); }

void use_credentials(SSL_CTX* ctx, const TlsSink::Options& o) {
  BIO* cert_bio = memory_bio(o.cert_pem);
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO* key_bio = memory_bio(o.key_pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  const bool ok = cert && key && SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) throw std::runtime_error("TlsSink: bad server certificate or key");
}

void require_client_certificates(SSL_CTX* ctx, const std::string& ca_pem) {
  BIO* bio = memory_bio(ca_pem);
  X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!ca) throw std::runtime_error("TlsSink: bad client CA");
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
  X509_free(ca);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
}

std::string subject_of(SSL* ssl) {
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (!peer) return {};
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(peer), buf, sizeof buf);
  X509_free(peer);
  return buf;
}

}  // namespace

TlsSink::TlsSink(Options options) : framing_(options.framing), rcvbuf_(options.rcvbuf), decoder_(options.framing) {
  ctx_ = SSL_CTX_new(TLS_server_method());
  if (!ctx_) throw std::runtime_error("TlsSink: SSL_CTX_new");
  use_credentials(ctx_, options);
  if (!options.client_ca_pem.empty()) require_client_certificates(ctx_, options.client_ca_pem);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  wake_read_.reset(fds[0]);
  wake_write_.reset(fds[1]);
  listen_fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  // Set on the listener so accepted sockets inherit it from the handshake on (window scaling).
  if (rcvbuf_ > 0) ::setsockopt(listen_fd_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof rcvbuf_);
  const SocketAddress a = make_address("127.0.0.1", 0);
  if (::bind(listen_fd_.get(), a.get(), a.len) != 0 || ::listen(listen_fd_.get(), 16) != 0)
    throw std::system_error(errno, std::generic_category(), "TlsSink listen");
  port_ = local_port(listen_fd_.get());
  thread_ = std::thread([this] { run(); });
}

TlsSink::~TlsSink() {
  {
    std::lock_guard lock(mu_);
    stop_requested_ = true;
  }
  const char b = 1;
  [[maybe_unused]] auto n = ::write(wake_write_.get(), &b, 1);
  thread_.join();
  SSL_CTX_free(ctx_);
}

void TlsSink::close_connection() {
  std::unique_lock lock(mu_);
  close_requested_ = true;
  const char b = 1;
  [[maybe_unused]] auto n = ::write(wake_write_.get(), &b, 1);
  if (!cv_.wait_for(lock, scaled(std::chrono::seconds(10)), [&] { return !close_requested_; }))
    ADD_FAILURE() << "TlsSink thread did not close the connection within 10 s";
}

void TlsSink::pause() {
  std::lock_guard lock(mu_);
  paused_ = true;
}

void TlsSink::resume() {
  {
    std::lock_guard lock(mu_);
    paused_ = false;
  }
  const char b = 0;
  [[maybe_unused]] auto n = ::write(wake_write_.get(), &b, 1);  // wake poll so reading resumes now
}

void TlsSink::run() {
  for (;;) {
    bool paused;
    {
      std::lock_guard lock(mu_);
      paused = paused_;
    }
    pollfd fds[2] = {{wake_read_.get(), POLLIN, 0}, {-1, POLLIN, 0}};
    fds[1].fd = conn_fd_ ? (paused && established_ ? -1 : conn_fd_.get()) : listen_fd_.get();
    if (conn_fd_ && want_write_) fds[1].events = POLLOUT;
    if (::poll(fds, 2, 100) < 0 && errno != EINTR) break;
    if ((fds[0].revents & POLLIN) && !handle_wake()) break;
    if (fds[1].revents == 0) continue;
    if (!conn_fd_)
      accept_one();
    else if (!established_) {
      shake_hands();
      // The client's first records may have come with its last handshake flight: OpenSSL has
      // read them off the socket already, so poll would not report them.
      if (established_ && !paused) read_records();
    } else
      read_records();
  }
  std::lock_guard lock(mu_);
  abort_connection();
}

bool TlsSink::handle_wake() {
  char buf[64];
  while (::read(wake_read_.get(), buf, sizeof buf) > 0) {}
  std::lock_guard lock(mu_);
  if (close_requested_) abort_connection();
  close_requested_ = false;
  cv_.notify_all();
  return !stop_requested_;
}

// Caller holds mu_.
void TlsSink::abort_connection() {
  if (!conn_fd_) return;
  if (decoder_.pending() > 0) ++discarded_partials_;
  decoder_.reset();
  SSL_free(ssl_);
  ssl_ = nullptr;
  established_ = false;
  want_write_ = false;
  abort_close(conn_fd_);
}

void TlsSink::accept_one() {
  const int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  conn_fd_.reset(fd);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd);
  SSL_set_accept_state(ssl_);
  shake_hands();
}

void TlsSink::shake_hands() {
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_);
  const int code = ret == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, ret);
  want_write_ = code == SSL_ERROR_WANT_WRITE;
  if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return;
  std::lock_guard lock(mu_);
  if (code != SSL_ERROR_NONE) {
    ++handshake_failures_;
    ERR_clear_error();
    SSL_free(ssl_);
    ssl_ = nullptr;
    conn_fd_.reset();
    cv_.notify_all();
    return;
  }
  established_ = true;
  decoder_.reset();
  connection_starts_.push_back(messages_.size());
  connection_bytes_.push_back(0);
  client_subjects_.push_back(subject_of(ssl_));
  cv_.notify_all();
}

void TlsSink::read_records() {
  static thread_local std::string buf(64 * 1024, '\0');
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(ssl_, buf.data(), static_cast<int>(buf.size()));
    if (n <= 0) {
      const int code = SSL_get_error(ssl_, n);
      want_write_ = code == SSL_ERROR_WANT_WRITE;
      if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return;
      if (code == SSL_ERROR_ZERO_RETURN) {
        std::lock_guard lock(mu_);
        ++clean_ends_;
      }
      return end_session();
    }
    std::lock_guard lock(mu_);
    connection_bytes_.back() += static_cast<std::size_t>(n);
    const bool ok = decoder_.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)), [&](std::string_view m) {
      if (framing_ == Framing::raw)
        bytes_.append(m);
      else
        messages_.emplace_back(m);
    });
    if (!ok) {
      ++framing_errors_;  // lost sync: nothing after this can be trusted
      decoder_.reset();
      abort_connection();
      return;
    }
    cv_.notify_all();
  }
}

void TlsSink::end_session() {
  std::lock_guard lock(mu_);
  if (decoder_.pending() > 0) ++framing_errors_;  // relayd closed inside a frame
  decoder_.reset();
  ERR_clear_error();
  SSL_free(ssl_);
  ssl_ = nullptr;
  established_ = false;
  want_write_ = false;
  conn_fd_.reset();
  cv_.notify_all();
}

#define TLS_SINK_GETTER(type, name, member) \
  type TlsSink::name() const {              \
    std::lock_guard lock(mu_);              \
    return member;                          \
  }
TLS_SINK_GETTER(std::vector<std::string>, messages, messages_)
TLS_SINK_GETTER(std::string, bytes, bytes_)
TLS_SINK_GETTER(std::string, last_message, messages_.empty() ? std::string() : messages_.back())
TLS_SINK_GETTER(std::size_t, count, messages_.size())
TLS_SINK_GETTER(std::size_t, connections, connection_starts_.size())
TLS_SINK_GETTER(std::size_t, handshake_failures, handshake_failures_)
TLS_SINK_GETTER(std::size_t, clean_ends, clean_ends_)
TLS_SINK_GETTER(std::vector<std::size_t>, connection_starts, connection_starts_)
TLS_SINK_GETTER(std::vector<std::size_t>, connection_bytes, connection_bytes_)
TLS_SINK_GETTER(std::vector<std::string>, client_subjects, client_subjects_)
TLS_SINK_GETTER(std::size_t, framing_errors, framing_errors_)
TLS_SINK_GETTER(std::size_t, discarded_partials, discarded_partials_)
#undef TLS_SINK_GETTER

bool TlsSink::wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, scaled(timeout), done);
}

bool TlsSink::wait_for_count(std::size_t n, std::chrono::milliseconds timeout) {
  return wait_for([&] { return messages_.size() >= n; }, timeout);
}

bool TlsSink::wait_for_connections(std::size_t n, std::chrono::milliseconds timeout) {
  return wait_for([&] { return connection_starts_.size() >= n; }, timeout);
}

bool TlsSink::wait_for_handshake_failures(std::size_t n, std::chrono::milliseconds timeout) {
  return wait_for([&] { return handshake_failures_ >= n; }, timeout);
}

}  // namespace relay::test
