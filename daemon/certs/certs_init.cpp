#include "certs_init.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "pem_file.hpp"
#include "x509_issue.hpp"

namespace relay::certs {

namespace {

namespace fs = std::filesystem;

constexpr auto kCaLifetime = std::chrono::hours(24) * 3650;

std::string in_dir(const std::string& dir, const char* name) { return (fs::path(dir) / name).string(); }

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

void make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return;
  throw std::runtime_error("cannot create " + dir + ": " + std::strerror(errno));
}

// Everything that could stop us is checked before the first file is written, so a refusal
// leaves DIR as it was.
bool check_targets(const std::string& dir) {
  for (const char* name : {kServerKey, kServerCert, kClientKey, kClientCert}) {
    if (exists(in_dir(dir, name)))
      throw std::runtime_error("refusing to overwrite " + in_dir(dir, name) +
                               ": remove it first to make a new one, or choose another directory");
  }
  const bool ca_key = exists(in_dir(dir, kCaKey));
  const bool ca_cert = exists(in_dir(dir, kCaCert));
  if (ca_key != ca_cert)
    throw std::runtime_error("found only one of " + in_dir(dir, kCaKey) + " and " + in_dir(dir, kCaCert) +
                             ": restore the other or remove it");
  return ca_key;
}

struct Ca {
  Key key;
  Cert cert;
};

Ca load_ca(const std::string& dir) {
  Ca ca{parse_key(read_small_file(in_dir(dir, kCaKey))), parse_cert(read_small_file(in_dir(dir, kCaCert)))};
  return ca;
}

Ca make_ca(const std::string& dir) {
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  Ca ca{make_key(), nullptr};
  ca.cert = issue(Usage::ca, {std::string("relayd CA ") + host, {}}, ca.key, {std::chrono::seconds(-300), kCaLifetime},
                  nullptr, ca.key);
  write_new_private_file(in_dir(dir, kCaKey), key_pem(ca.key));
  write_new_private_file(in_dir(dir, kCaCert), cert_pem(ca.cert));
  return ca;
}

void make_leaf(const std::string& dir, const Ca& ca, Usage usage, const Subject& subject, int days,
               const char* key_name, const char* cert_name) {
  const Key key = make_key();
  const Cert cert =
      issue(usage, subject, key, {std::chrono::seconds(-300), std::chrono::hours(24) * days}, ca.cert.get(), ca.key);
  write_new_private_file(in_dir(dir, key_name), key_pem(key));
  write_new_private_file(in_dir(dir, cert_name), cert_pem(cert));
}

void print_usage(const CertsInitOptions& o, const std::string& dir, std::ostream& out) {
  const std::string& host = o.hosts.front();
  const std::string server = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  out << "\nStart relayd with:\n"
      << "  relayd --control 0.0.0.0:50051 --control-tls-cert " << in_dir(dir, kServerCert) << " --control-tls-key "
      << in_dir(dir, kServerKey) << " --control-tls-client-ca " << in_dir(dir, kCaCert) << "\nand manage it with:\n"
      << "  relayctl --server " << server << ":50051 --tls-ca " << in_dir(dir, kCaCert) << " --tls-cert "
      << in_dir(dir, kClientCert) << " --tls-key " << in_dir(dir, kClientKey) << " info\n"
      << "Keep " << in_dir(dir, kCaKey) << " offline if you can: whoever holds it can make clients.\n";
}

}  // namespace

std::vector<std::string> default_hosts() {
  std::vector<std::string> hosts{"localhost", "127.0.0.1", "::1"};
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0' && std::string(host) != "localhost")
    hosts.emplace_back(host);
  return hosts;
}

void init_certs(const CertsInitOptions& options, std::ostream& out) {
  CertsInitOptions o = options;
  if (o.dir.empty()) throw std::runtime_error("certs init needs a directory");
  if (o.hosts.empty()) o.hosts = default_hosts();
  if (o.days < 1 || o.days > 3650) throw std::runtime_error("--days must be between 1 and 3650");
  const std::string dir = fs::absolute(o.dir).lexically_normal().string();
  make_dir(dir);
  const bool reuse_ca = check_targets(dir);
  const Ca ca = reuse_ca ? load_ca(dir) : make_ca(dir);
  out << (reuse_ca ? "reused " : "made ") << in_dir(dir, kCaKey) << " and " << in_dir(dir, kCaCert) << "\n";
  make_leaf(dir, ca, Usage::server, {o.hosts.front(), o.hosts}, o.days, kServerKey, kServerCert);
  out << "made " << in_dir(dir, kServerCert) << " for";
  for (const auto& h : o.hosts) out << ' ' << h;
  out << "\n";
  make_leaf(dir, ca, Usage::client, {o.client_name, {}}, o.days, kClientKey, kClientCert);
  out << "made " << in_dir(dir, kClientCert) << " for CN=" << o.client_name << "\n";
  print_usage(o, dir, out);
}

}  // namespace relay::certs
