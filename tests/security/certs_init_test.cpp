// `relayd certs init` as a library: what it writes, that the chain verifies for the hosts it
// names, and that it never overwrites a key.
#include "certs_init.hpp"

#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <sstream>

#include "certificate_info.hpp"
#include "pem_file.hpp"
#include "x509_issue.hpp"

namespace relay::certs {
namespace {

namespace fs = std::filesystem;

class CertsInit : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/relay-certs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = fs::path(tmpl) / "keys";  // init creates it
  }
  void TearDown() override { fs::remove_all(dir_.parent_path()); }

  std::string path(const char* name) const { return (dir_ / name).string(); }
  std::string run(std::vector<std::string> hosts = {"relay.example", "10.1.2.3", "::1"}) {
    std::ostringstream out;
    init_certs({dir_.string(), std::move(hosts), "ops-client", 30}, out);
    return out.str();
  }
  Cert cert(const char* name) const { return parse_cert(read_small_file(path(name))); }

  // OpenSSL's own chain check, as a TLS peer would do it, for `purpose` and optionally a host.
  bool verifies(const char* leaf, int purpose, const std::string& host = {}, const std::string& ip = {}) const {
    Cert ca = cert(kCaCert);
    Cert l = cert(leaf);
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, ca.get());
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, l.get(), nullptr);
    X509_STORE_CTX_set_purpose(ctx, purpose);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
    if (!host.empty()) X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    if (!ip.empty()) X509_VERIFY_PARAM_set1_ip_asc(param, ip.c_str());
    const bool ok = X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
  }

  fs::path dir_;
};

TEST_F(CertsInit, WritesSixPrivateFilesAndSaysHowToUseThem) {
  const std::string out = run();
  for (const char* name : {kCaKey, kCaCert, kServerKey, kServerCert, kClientKey, kClientCert}) {
    struct stat st {};
    ASSERT_EQ(stat(path(name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
  struct stat st {};
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_NE(out.find("--control-tls-client-ca " + path(kCaCert)), std::string::npos) << out;
  EXPECT_NE(out.find("relayctl --server relay.example:50051 --tls-ca"), std::string::npos) << out;
  EXPECT_TRUE(key_matches(cert(kServerCert), parse_key(read_small_file(path(kServerKey)))));
  EXPECT_TRUE(key_matches(cert(kClientCert), parse_key(read_small_file(path(kClientKey)))));
  EXPECT_FALSE(key_matches(cert(kClientCert), parse_key(read_small_file(path(kServerKey)))));
}

TEST_F(CertsInit, ServerCertificateVerifiesForItsHostsOnly) {
  run();
  EXPECT_TRUE(verifies(kServerCert, X509_PURPOSE_SSL_SERVER, "relay.example"));
  EXPECT_TRUE(verifies(kServerCert, X509_PURPOSE_SSL_SERVER, {}, "10.1.2.3"));
  EXPECT_TRUE(verifies(kServerCert, X509_PURPOSE_SSL_SERVER, {}, "::1"));
  EXPECT_FALSE(verifies(kServerCert, X509_PURPOSE_SSL_SERVER, "other.example"));
  EXPECT_FALSE(verifies(kServerCert, X509_PURPOSE_SSL_SERVER, {}, "10.1.2.4"));
  EXPECT_FALSE(verifies(kServerCert, X509_PURPOSE_SSL_CLIENT));  // serverAuth only
}

TEST_F(CertsInit, ClientCertificateIsForClientsAndNamedAsAsked) {
  run();
  EXPECT_TRUE(verifies(kClientCert, X509_PURPOSE_SSL_CLIENT));
  EXPECT_FALSE(verifies(kClientCert, X509_PURPOSE_SSL_SERVER));
  const auto info = read_certificate_info(path(kClientCert));
  EXPECT_EQ(info.subject, "CN=ops-client");
  EXPECT_EQ(info.issuer, read_certificate_info(path(kCaCert)).subject);
  const auto days = std::chrono::duration_cast<std::chrono::hours>(info.not_after - std::chrono::system_clock::now());
  EXPECT_GT(days.count(), 29 * 24);
  EXPECT_LE(days.count(), 30 * 24);
}

TEST_F(CertsInit, NeverOverwritesAndLeavesTheDirectoryAsItWas) {
  run();
  const std::string server_before = read_small_file(path(kServerKey));
  try {
    run();
    FAIL() << "a second init overwrote " << path(kServerKey);
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("refusing to overwrite " + path(kServerKey)), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_small_file(path(kServerKey)), server_before);
}

TEST_F(CertsInit, ReusesAnExistingCaForNewLeaves) {
  run();
  const std::string ca_before = read_small_file(path(kCaKey));
  for (const char* name : {kServerKey, kServerCert, kClientKey, kClientCert}) fs::remove(path(name));
  EXPECT_NE(run({"second.example"}).find("reused"), std::string::npos);
  EXPECT_EQ(read_small_file(path(kCaKey)), ca_before);
  EXPECT_TRUE(verifies(kServerCert, X509_PURPOSE_SSL_SERVER, "second.example"));
}

TEST_F(CertsInit, HalfACaIsRefused) {
  run();
  for (const char* name : {kServerKey, kServerCert, kClientKey, kClientCert, kCaKey}) fs::remove(path(name));
  EXPECT_THROW(run(), std::runtime_error);
  EXPECT_FALSE(fs::exists(path(kServerKey)));
}

TEST(X509Issue, ExpiredCertificatesCanBeMadeForTests) {
  const Key key = make_key();
  const Cert c = issue(Usage::ca, {"old", {}}, key, {std::chrono::hours(-48), std::chrono::hours(-24)}, nullptr, key);
  EXPECT_TRUE(certificate_info_from_pem(cert_pem(c)).expired());
}

}  // namespace
}  // namespace relay::certs
