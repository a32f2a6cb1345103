#include "tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include <stdexcept>

#include "pem_file.hpp"
#include "printable.hpp"
#include "tls_reason.hpp"

namespace relay {
namespace {

struct CtxDeleter {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxDeleter>;
struct BioDeleter {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

[[noreturn]] void refuse(const Endpoint& ep, const std::string& why) {
  throw EndpointError(fmt::format("bad address \"{}\": {}", printable(ep.str()), printable(why)));
}

std::string read_file(const Endpoint& ep, const char* option, const std::string& path) {
  try {
    return certs::read_small_file(path);
  } catch (const std::exception& e) {
    refuse(ep, fmt::format("{}=: {}", option, e.what()));
  }
}

BioPtr memory_bio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate of the bundle into the context's trust store.
void load_ca(const Endpoint& ep, SSL_CTX* ctx, const std::string& path) {
  const std::string pem = read_file(ep, "ca", path);
  const BioPtr bio = memory_bio(pem);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int loaded = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);  // takes its own reference
    X509_free(cert);
    ++loaded;
  }
  ERR_clear_error();  // the end of the bundle reads as an error
  if (loaded == 0) refuse(ep, fmt::format("ca={}: no PEM certificate in the file", path));
}

// The leaf first, then any intermediates; the key must be the leaf's.
void load_client_certificate(const Endpoint& ep, SSL_CTX* ctx, const TlsOptions& o) {
  const std::string cert_pem = read_file(ep, "cert", o.cert);
  const BioPtr cert_bio = memory_bio(cert_pem);
  X509* leaf = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr);
  if (leaf == nullptr) refuse(ep, fmt::format("cert={}: no PEM certificate in the file", o.cert));
  const int used = SSL_CTX_use_certificate(ctx, leaf);
  X509_free(leaf);
  if (used != 1) refuse(ep, fmt::format("cert={}: {}", o.cert, tls_error_queue_reason()));
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr))
    SSL_CTX_add0_chain_cert(ctx, extra);  // the context owns it now
  ERR_clear_error();
  const std::string key_pem = read_file(ep, "key", o.key);
  const BioPtr key_bio = memory_bio(key_pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) refuse(ep, fmt::format("key={}: no PEM private key in the file", o.key));
  const int key_used = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (key_used != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    refuse(ep, fmt::format("key={} is not the private key of cert={}", o.key, o.cert));
  }
}

}  // namespace

std::shared_ptr<const TlsContext> TlsContext::build(const Endpoint& ep) {
  if (!ep.tls) throw std::logic_error("TlsContext::build on a plain tcp destination");
  const TlsOptions& o = *ep.tls;
  ERR_clear_error();
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) refuse(ep, "cannot create a TLS context: " + tls_error_queue_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Partial writes: SSL_write returns after each record, so a write's byte count says which
  // messages are on the wire. Moving buffer: a retried write may come from another buffer with
  // the same bytes (a message carried aside when the eviction floor passed it).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (o.verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (o.ca.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1)
        refuse(ep, "cannot load the system's trust store: " + tls_error_queue_reason());
    } else {
      load_ca(ep, ctx.get(), o.ca);
    }
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    if (!o.ca.empty()) read_file(ep, "ca", o.ca);  // still checked: a typo should not wait for verify=1
  }
  if (!o.cert.empty()) load_client_certificate(ep, ctx.get(), o);
  const std::string ip = o.sni.empty() ? ep.host.substr(0, ep.host.find('%')) : std::string{};
  return std::shared_ptr<const TlsContext>(new TlsContext(ctx.release(), o, ip));
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace relay
