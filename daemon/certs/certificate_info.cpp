#include "certificate_info.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/x509.h>

#include <ctime>
#include <stdexcept>

#include "pem_file.hpp"
#include "x509_issue.hpp"

namespace relay::certs {

namespace {

std::string name_text(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return "?";
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return text;
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) throw std::runtime_error("unreadable expiry time");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string utc_text(std::chrono::system_clock::time_point tp) {
  const std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace

CertificateInfo certificate_info_from_pem(const std::string& pem) {
  const Cert cert = parse_cert(pem);
  CertificateInfo info;
  info.subject = name_text(X509_get_subject_name(cert.get()));
  info.issuer = name_text(X509_get_issuer_name(cert.get()));
  info.not_after = to_time_point(X509_get0_notAfter(cert.get()));
  info.not_after_text = utc_text(info.not_after);
  return info;
}

CertificateInfo read_certificate_info(const std::string& path) {
  try {
    return certificate_info_from_pem(read_small_file(path));
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

}  // namespace relay::certs
