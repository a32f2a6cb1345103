// certificate_info: what an operator needs to know about a certificate file in one log line —
// whose it is, who signed it, and when it expires.
#pragma once

#include <chrono>
#include <string>

namespace relay::certs {

struct CertificateInfo {
  std::string subject;  // RFC 2253 form, e.g. "CN=relayd server"
  std::string issuer;
  std::chrono::system_clock::time_point not_after;
  std::string not_after_text;  // e.g. "2029-03-06 22:41:07 UTC"
  bool expired(std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const {
    return not_after <= now;
  }
};

// Reads the first certificate of a PEM file. Throws std::runtime_error naming the file.
CertificateInfo read_certificate_info(const std::string& path);
// The same from PEM text.
CertificateInfo certificate_info_from_pem(const std::string& pem);

}  // namespace relay::certs
