#include "x509_issue.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace relay::certs {

void KeyDeleter::operator()(evp_pkey_st* key) const noexcept { EVP_PKEY_free(key); }
void CertDeleter::operator()(x509_st* cert) const noexcept { X509_free(cert); }

namespace {

struct BioDeleter {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;

// OpenSSL keeps its reasons in a thread-local queue: the newest one says what went wrong.
[[noreturn]] void fail(const std::string& what) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  char reason[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
  throw std::runtime_error(what + ": " + reason);
}

void check(int ok, const char* what) {
  if (ok != 1) fail(what);
}

// A CA and its leaves are told apart by random 159-bit serials (RFC 5280 allows 20 octets and
// asks for unpredictability), so certificates made twice never collide.
void set_random_serial(X509* cert) {
  unsigned char bytes[20];
  check(RAND_bytes(bytes, sizeof bytes), "random serial");
  bytes[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  if (!bn) fail("random serial");
  ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  if (!serial) fail("random serial");
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (!ext) fail("certificate extension " + value);
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok, "certificate extension");
}

std::string subject_alt_names(const std::vector<std::string>& hosts) {
  std::string san;
  for (const auto& host : hosts) {
    if (!san.empty()) san += ',';
    san += (is_ip_literal(host) ? "IP:" : "DNS:") + host;
  }
  return san;
}

void add_usage_extensions(X509* cert, X509V3_CTX* ctx, Usage usage, const Subject& subject) {
  add_extension(cert, ctx, NID_subject_key_identifier, "hash");
  switch (usage) {
    case Usage::ca:
      add_extension(cert, ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
      add_extension(cert, ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
      return;
    case Usage::server:
      add_extension(cert, ctx, NID_basic_constraints, "critical,CA:FALSE");
      add_extension(cert, ctx, NID_key_usage, "critical,digitalSignature");
      add_extension(cert, ctx, NID_ext_key_usage, "serverAuth");
      if (!subject.hosts.empty()) add_extension(cert, ctx, NID_subject_alt_name, subject_alt_names(subject.hosts));
      break;
    case Usage::client:
      add_extension(cert, ctx, NID_basic_constraints, "critical,CA:FALSE");
      add_extension(cert, ctx, NID_key_usage, "critical,digitalSignature");
      add_extension(cert, ctx, NID_ext_key_usage, "clientAuth");
      break;
  }
  add_extension(cert, ctx, NID_authority_key_identifier, "keyid:always");
}

void set_subject(X509* cert, const std::string& common_name) {
  X509_NAME* name = X509_get_subject_name(cert);
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0),
        "certificate subject");
}

}  // namespace

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool key_matches(const Cert& cert, const Key& key) {
  const bool ok = X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

Key make_key() {
  Key key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot make an EC P-256 key");
  return key;
}

Cert issue(Usage usage, const Subject& subject, const Key& key, const Validity& validity, const x509_st* issuer,
           const Key& issuer_key) {
  Cert cert(X509_new());
  if (!cert) fail("cannot allocate a certificate");
  check(X509_set_version(cert.get(), 2), "certificate version");  // v3: extensions
  set_random_serial(cert.get());
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), validity.not_before.count()) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), validity.not_after.count()))
    fail("certificate validity");
  check(X509_set_pubkey(cert.get(), key.get()), "certificate key");
  set_subject(cert.get(), subject.common_name);
  X509* const signer = issuer ? const_cast<X509*>(issuer) : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)), "certificate issuer");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer, cert.get(), nullptr, nullptr, 0);
  add_usage_extensions(cert.get(), &ctx, usage, subject);
  if (X509_sign(cert.get(), issuer_key.get(), EVP_sha256()) <= 0) fail("cannot sign the certificate");
  return cert;
}

std::string key_pem(const Key& key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    fail("cannot encode the key");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string cert_pem(const Cert& cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert.get()) != 1) fail("cannot encode the certificate");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Key parse_key(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Key key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) fail("no private key");
  return key;
}

Cert parse_cert(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) fail("no certificate");
  return cert;
}

}  // namespace relay::certs
