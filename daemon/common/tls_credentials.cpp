#include "tls_credentials.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include <memory>

#include "pem_file.hpp"
#include "printable.hpp"
#include "tls_reason.hpp"

namespace relay {
namespace {

struct BioDeleter {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr memory_bio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

}  // namespace

void refuse_tls_address(const Endpoint& ep, std::string_view why) {
  throw EndpointError(fmt::format("bad address \"{}\": {}", printable(ep.str()), printable(why)));
}

std::string read_tls_file(const Endpoint& ep, std::string_view option, const std::string& path) {
  try {
    return certs::read_small_file(path);
  } catch (const std::exception& e) {
    refuse_tls_address(ep, fmt::format("{}=: {}", option, e.what()));
  }
}

void load_trusted_cas(const Endpoint& ep, SSL_CTX* ctx, std::string_view option, const std::string& path) {
  const std::string pem = read_tls_file(ep, option, path);
  const BioPtr bio = memory_bio(pem);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int loaded = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);  // takes its own reference
    X509_free(cert);
    ++loaded;
  }
  ERR_clear_error();  // the end of the bundle reads as an error
  if (loaded == 0) refuse_tls_address(ep, fmt::format("{}={}: no PEM certificate in the file", option, path));
}

void load_certificate_and_key(const Endpoint& ep, SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  const std::string cert_pem = read_tls_file(ep, "cert", cert);
  const BioPtr cert_bio = memory_bio(cert_pem);
  X509* leaf = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr);
  if (leaf == nullptr) refuse_tls_address(ep, fmt::format("cert={}: no PEM certificate in the file", cert));
  const int used = SSL_CTX_use_certificate(ctx, leaf);
  X509_free(leaf);
  if (used != 1) refuse_tls_address(ep, fmt::format("cert={}: {}", cert, tls_error_queue_reason()));
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr))
    SSL_CTX_add0_chain_cert(ctx, extra);  // the context owns it now
  ERR_clear_error();
  const std::string key_pem = read_tls_file(ep, "key", key);
  const BioPtr key_bio = memory_bio(key_pem);
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  if (pkey == nullptr) refuse_tls_address(ep, fmt::format("key={}: no PEM private key in the file", key));
  const int key_used = SSL_CTX_use_PrivateKey(ctx, pkey);
  EVP_PKEY_free(pkey);
  if (key_used != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    refuse_tls_address(ep, fmt::format("key={} is not the private key of cert={}", key, cert));
  }
}

}  // namespace relay
