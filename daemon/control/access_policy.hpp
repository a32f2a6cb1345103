// access_policy: who may call the control API, and with which role.
//
// Roles: `read` may look (GetInfo, GetStats, ListDestinations, GetDestination, WatchStats);
// `admin` may also change (AddDestination, RemoveDestination, and what comes later). Health
// checking never asks this (load balancers probe it without credentials).
//
// Without a token file the policy is open: whoever can reach the control socket is admin — the
// address (loopback, a 0600 unix socket) or mutual TLS is then the gate. With a token file
// (--control-token-file) every call needs a credential that the file names:
//
//   # NAME     ROLE   CREDENTIAL
//   dashboard  read   sha256:<64 hex digits>   a bearer token (only its SHA-256 is stored)
//   relayctl   admin  cert:CN=relayctl         a verified client certificate's subject (RFC 2253)
//   ops        admin  uid:1000                 a unix-socket caller's uid (SO_PEERCRED)
//
// A bearer token, when sent, decides alone (a wrong one is refused even from a listed
// certificate or uid). A unix-socket caller's uid comes from the kernel (unix_peer.hpp); one the
// file does not list is refused as unauthenticated, named uid:N for the audit. No uid, root
// included, has a privilege of its own.
//
// `relayd certs token NAME --role ROLE` makes a token and prints its line.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "token_hash.hpp"

namespace relay {

enum class Role { read, admin };
const char* role_name(Role role) noexcept;

// What the transport and the metadata say about a caller; gathered per call (control_caller).
struct CallerFacts {
  std::string peer;                         // "ipv4:127.0.0.1:51000", "unix:/p uid=1000 pid=42", ...
  std::optional<std::string> bearer_token;  // from `authorization: Bearer ...`
  std::optional<std::string> cert_subject;  // a client certificate TLS verified
  std::optional<uid_t> uid;                 // a unix-socket caller's uid
};

struct Identity {
  std::string name;  // "token:dashboard", "cert:CN=relayctl", "uid:1000", "anonymous"
  Role role = Role::read;
};

struct Refusal {
  enum class Kind { unauthenticated, permission_denied } kind;
  std::string message;
  std::string who;  // the caller's identity when it is known (permission_denied, an unlisted uid)
};

class AccessPolicy {
 public:
  // Everyone is admin; the identity still names what is known (certificate, uid) for the audit.
  static AccessPolicy open();
  // Parses a token file's text; throws std::runtime_error "FILE:LINE: reason" on any bad line.
  static AccessPolicy parse(const std::string& text, const std::string& file_name);
  static AccessPolicy load(const std::string& path);

  // Who the caller is, or why not (no or unknown credential: unauthenticated).
  std::variant<Identity, Refusal> authenticate(const CallerFacts& caller) const;
  // Authenticates and checks the role `needed`.
  std::variant<Identity, Refusal> authorize(const CallerFacts& caller, Role needed) const;

  bool is_open() const noexcept { return open_; }
  std::size_t entries() const noexcept { return tokens_.size() + subjects_.size() + uids_.size(); }

 private:
  template <class T>
  struct Entry {
    std::string name;
    Role role;
    T credential;
  };
  bool open_ = true;
  std::vector<Entry<certs::TokenHash>> tokens_;
  std::vector<Entry<std::string>> subjects_;
  std::vector<Entry<uid_t>> uids_;

  void add_line(const std::string& line, const std::string& where);
  std::optional<Identity> by_token(const std::string& token) const;
};

}  // namespace relay
