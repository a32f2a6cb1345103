#include "access_policy.hpp"

#include <charconv>
#include <sstream>
#include <stdexcept>

#include "pem_file.hpp"
#include "printable.hpp"

namespace relay {

namespace {

std::optional<Role> parse_role(const std::string& s) {
  if (s == "read") return Role::read;
  if (s == "admin") return Role::admin;
  return std::nullopt;
}

bool valid_name(const std::string& s) {
  return !s.empty() && s.size() <= 64 &&
         s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") == std::string::npos;
}

std::string strip_comment(const std::string& line) {
  const auto hash = line.find('#');
  return hash == std::string::npos ? line : line.substr(0, hash);
}

std::string uid_name(uid_t uid) { return "uid:" + std::to_string(uid); }

// The open policy: whoever reached the socket is admin (the address, a unix socket's mode and
// group, or mutual TLS was the gate); the name says what is known. No uid, root included, is
// special: with a token file only the uids it lists count.
Identity anonymous_identity(const CallerFacts& caller) {
  if (caller.cert_subject) return {"cert:" + *caller.cert_subject, Role::admin};
  if (caller.uid) return {uid_name(*caller.uid), Role::admin};
  return {"anonymous", Role::admin};
}

}  // namespace

const char* role_name(Role role) noexcept { return role == Role::admin ? "admin" : "read"; }

AccessPolicy AccessPolicy::open() { return AccessPolicy{}; }

AccessPolicy AccessPolicy::parse(const std::string& text, const std::string& file_name) {
  AccessPolicy policy;
  policy.open_ = false;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    policy.add_line(strip_comment(line), file_name + ":" + std::to_string(number));
  }
  return policy;
}

AccessPolicy AccessPolicy::load(const std::string& path) { return parse(certs::read_small_file(path), path); }

// A subject may contain spaces ("cert:CN=relayd ops,O=Example"): the credential is the rest of
// the line after NAME and ROLE.
void AccessPolicy::add_line(const std::string& line, const std::string& where) {
  std::istringstream fields(line);
  std::string name, role_text;
  if (!(fields >> name)) return;  // blank or comment
  auto bad = [&](const std::string& why) { throw std::runtime_error(where + ": " + why); };
  if (!valid_name(name)) bad("a name is 1 to 64 of A-Z a-z 0-9 . _ - @, not \"" + printable(name, 64) + "\"");
  if (!(fields >> role_text)) bad("missing role (read or admin) after " + name);
  const auto role = parse_role(role_text);
  if (!role) bad("role must be read or admin, not \"" + printable(role_text, 32) + "\"");
  std::string credential;
  std::getline(fields >> std::ws, credential);
  while (!credential.empty() && (credential.back() == ' ' || credential.back() == '\t' || credential.back() == '\r'))
    credential.pop_back();
  if (credential.starts_with("sha256:")) {
    certs::TokenHash hash{};
    if (!certs::parse_token_hash(credential, hash)) bad("sha256: must be followed by 64 hex digits");
    tokens_.push_back({name, *role, hash});
  } else if (credential.starts_with("cert:") && credential.size() > 5) {
    subjects_.push_back({name, *role, credential.substr(5)});
  } else if (credential.starts_with("uid:")) {
    uid_t uid = 0;
    const char* first = credential.data() + 4;
    const char* last = credential.data() + credential.size();
    const auto [end, ec] = std::from_chars(first, last, uid);
    if (ec != std::errc() || end != last || first == last) bad("uid: must be followed by a number");
    uids_.push_back({name, *role, uid});
  } else {
    bad("credential must be sha256:HEX (relayd certs token), cert:SUBJECT or uid:N");
  }
}

// Every entry is compared, match or not, so the time taken says nothing about which one matched.
std::optional<Identity> AccessPolicy::by_token(const std::string& token) const {
  const certs::TokenHash presented = certs::hash_token(token);
  std::optional<Identity> found;
  for (const auto& e : tokens_) {
    if (certs::same_hash(presented, e.credential) && !found) found = Identity{"token:" + e.name, e.role};
  }
  return found;
}

std::variant<Identity, Refusal> AccessPolicy::authenticate(const CallerFacts& caller) const {
  if (open_) return anonymous_identity(caller);
  if (caller.bearer_token) {
    if (auto id = by_token(*caller.bearer_token)) return *id;
    return Refusal{Refusal::Kind::unauthenticated, "the bearer token is not in the token file", {}};
  }
  if (caller.cert_subject) {
    for (const auto& e : subjects_)
      if (e.credential == *caller.cert_subject) return Identity{"cert:" + *caller.cert_subject, e.role};
  }
  if (caller.uid) {
    for (const auto& e : uids_)
      if (e.credential == *caller.uid) return Identity{uid_name(*caller.uid), e.role};
    // The kernel vouches for the uid, so the audit names it, but the token file does not list it.
    return Refusal{Refusal::Kind::unauthenticated,
                   "credentials required: " + uid_name(*caller.uid) +
                       " is not in the token file; send an `authorization: Bearer TOKEN` header (relayctl "
                       "--token-file)",
                   uid_name(*caller.uid)};
  }
  return Refusal{Refusal::Kind::unauthenticated,
                 "credentials required: an `authorization: Bearer TOKEN` header (relayctl --token-file) or a "
                 "client certificate the token file names",
                 {}};
}

std::variant<Identity, Refusal> AccessPolicy::authorize(const CallerFacts& caller, Role needed) const {
  auto result = authenticate(caller);
  if (auto* id = std::get_if<Identity>(&result); id && needed == Role::admin && id->role != Role::admin) {
    return Refusal{Refusal::Kind::permission_denied, id->name + " has the read role; this call needs admin", id->name};
  }
  return result;
}

}  // namespace relay
