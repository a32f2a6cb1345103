// control_options: how the control service is protected (docs/SECURITY.md), as the command line
// gives it. Plain data: the control layer turns it into TLS credentials and an access policy.
#pragma once

#include <sys/types.h>

#include <string>

namespace relay {

struct ControlOptions {
  std::string tls_cert;       // PEM chain; empty: plaintext
  std::string tls_key;        // PEM private key of tls_cert
  std::string tls_client_ca;  // PEM bundle; set: client certificates required (mutual TLS)
  std::string token_file;     // empty: whoever reaches the control port is admin
  bool insecure = false;      // allow plaintext control on a non-loopback address
  mode_t socket_mode = 0600;  // a unix: control socket's mode
  std::string socket_group;   // and group (empty: relayd's)

  bool tls() const noexcept { return !tls_cert.empty(); }
  bool mutual_tls() const noexcept { return !tls_client_ca.empty(); }
};

}  // namespace relay
