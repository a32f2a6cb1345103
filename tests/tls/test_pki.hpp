// test_pki: certificates made at test time for the TLS tests (with relay_certs, the code
// `relayd certs init` uses), written as PEM files into a fresh temporary directory that is
// removed with the object.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "x509_issue.hpp"

namespace relay::test {

struct Credential {
  std::string cert_pem, key_pem;
  std::string cert_path, key_path;  // the same, as files
};

class TestPki {
 public:
  TestPki();
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::string& dir() const { return dir_; }
  // The CA's certificate (PEM and file).
  const std::string& ca_pem() const { return ca_pem_; }
  const std::string& ca_path() const { return ca_path_; }
  // A certificate signed by this CA, `name` naming its files.
  Credential server(const std::string& name, const std::vector<std::string>& hosts,
                    const certs::Validity& validity = {});
  Credential client(const std::string& name, const std::string& common_name);
  // Writes `text` as dir()/name and returns the path.
  std::string write(const std::string& name, const std::string& text) const;

 private:
  Credential issue(certs::Usage usage, const std::string& name, const certs::Subject& subject,
                   const certs::Validity& validity);

  std::string dir_;
  certs::Key ca_key_;
  certs::Cert ca_;
  std::string ca_pem_, ca_path_;
};

}  // namespace relay::test
