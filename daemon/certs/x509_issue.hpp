// x509_issue: private keys and X.509 certificates for relayd's control plane, made with OpenSSL.
//
// Only what `relayd certs init` and the tests need: ECDSA P-256 keys (small, fast, accepted by
// every gRPC TLS stack), a self-signed CA, and leaf certificates it signs for a server (SANs,
// serverAuth) or a client (clientAuth). Validity is given as offsets from now so tests can make
// expired or not-yet-valid certificates with the same code that makes the real ones.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

struct evp_pkey_st;
struct x509_st;

namespace relay::certs {

struct KeyDeleter {
  void operator()(evp_pkey_st* key) const noexcept;
};
struct CertDeleter {
  void operator()(x509_st* cert) const noexcept;
};
using Key = std::unique_ptr<evp_pkey_st, KeyDeleter>;
using Cert = std::unique_ptr<x509_st, CertDeleter>;

enum class Usage { ca, server, client };

struct Validity {
  std::chrono::seconds not_before{-300};  // a little slack for clocks that disagree
  std::chrono::seconds not_after{std::chrono::hours(24) * 825};
};

struct Subject {
  std::string common_name;
  // Server certificates: DNS names and IP addresses (v4 or v6) the server answers as.
  std::vector<std::string> hosts;
};

// Throws std::runtime_error naming what OpenSSL refused.
Key make_key();
// Signs with `issuer_key`; a CA passes its own key and a null `issuer` (self-signed).
Cert issue(Usage usage, const Subject& subject, const Key& key, const Validity& validity, const x509_st* issuer,
           const Key& issuer_key);

std::string key_pem(const Key& key);
std::string cert_pem(const Cert& cert);
// Parses PEM text; throws std::runtime_error if it holds no key / certificate.
Key parse_key(const std::string& pem);
Cert parse_cert(const std::string& pem);

// True when `key` is the private half of `cert`'s public key.
bool key_matches(const Cert& cert, const Key& key);

// True when `host` is an IPv4 or IPv6 literal (it then goes into an IP SAN, not a DNS one).
bool is_ip_literal(const std::string& host);

}  // namespace relay::certs
