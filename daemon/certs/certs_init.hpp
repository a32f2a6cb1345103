// certs_init: `relayd certs init DIR`, the one command that makes the keys for a control plane
// with mutual TLS, like unbound-control-setup: a private CA, a server certificate for relayd and
// a client certificate for relayctl, all files mode 0600. Never overwrites a key: an existing CA
// in DIR is reused to sign new leaves, any other existing file is an error before anything is
// written.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace relay::certs {

struct CertsInitOptions {
  std::string dir;
  std::vector<std::string> hosts;  // the server's names and IPs; empty: localhost, loopback, hostname
  std::string client_name = "relayctl";
  int days = 825;  // leaves; the CA lives ten years
};

// The file names inside DIR.
inline constexpr const char* kCaKey = "ca.key";
inline constexpr const char* kCaCert = "ca.crt";
inline constexpr const char* kServerKey = "server.key";
inline constexpr const char* kServerCert = "server.crt";
inline constexpr const char* kClientKey = "client.key";
inline constexpr const char* kClientCert = "client.crt";

// Makes the files and prints what was made and the flags to use to `out`. Throws
// std::runtime_error with one readable line when it cannot.
void init_certs(const CertsInitOptions& options, std::ostream& out);

// The hosts used when none are given.
std::vector<std::string> default_hosts();

}  // namespace relay::certs
