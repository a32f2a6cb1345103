#include "test_pki.hpp"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace relay::test {

TestPki::TestPki() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "relay-tls-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  ca_key_ = certs::make_key();
  ca_ =
      certs::issue(certs::Usage::ca, certs::Subject{"relay test CA", {}}, ca_key_, certs::Validity{}, nullptr, ca_key_);
  ca_pem_ = certs::cert_pem(ca_);
  ca_path_ = write("ca.pem", ca_pem_);
}

TestPki::~TestPki() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string TestPki::write(const std::string& name, const std::string& text) const {
  const std::string path = dir_ + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
  return path;
}

Credential TestPki::issue(certs::Usage usage, const std::string& name, const certs::Subject& subject,
                          const certs::Validity& validity) {
  const certs::Key key = certs::make_key();
  const certs::Cert cert = certs::issue(usage, subject, key, validity, ca_.get(), ca_key_);
  Credential c{certs::cert_pem(cert), certs::key_pem(key), "", ""};
  c.cert_path = write(name + ".crt", c.cert_pem);
  c.key_path = write(name + ".key", c.key_pem);
  return c;
}

Credential TestPki::server(const std::string& name, const std::vector<std::string>& hosts,
                           const certs::Validity& validity) {
  return issue(certs::Usage::server, name, certs::Subject{hosts.empty() ? name : hosts.front(), hosts}, validity);
}

Credential TestPki::client(const std::string& name, const std::string& common_name) {
  return issue(certs::Usage::client, name, certs::Subject{common_name, {}}, certs::Validity{});
}

}  // namespace relay::test
