// The control plane's access policy on its own: token file parsing, tokens, certificate
// subjects and uids, roles.
#include "access_policy.hpp"

#include <gtest/gtest.h>

#include "token_hash.hpp"

namespace relay {
namespace {

std::string line(const std::string& name, const std::string& role, const std::string& token) {
  return name + " " + role + " " + certs::token_hash_text(certs::hash_token(token)) + "\n";
}

CallerFacts with_token(const std::string& token) {
  CallerFacts c;
  c.peer = "ipv4:127.0.0.1:5000";
  c.bearer_token = token;
  return c;
}

// By value: the argument is usually a temporary.
Identity identity(const std::variant<Identity, Refusal>& r) {
  if (const auto* refusal = std::get_if<Refusal>(&r)) {
    ADD_FAILURE() << "refused: " << refusal->message;
    return {};
  }
  return std::get<Identity>(r);
}

Refusal::Kind refusal(const std::variant<Identity, Refusal>& r) {
  EXPECT_TRUE(std::holds_alternative<Refusal>(r));
  return std::holds_alternative<Refusal>(r) ? std::get<Refusal>(r).kind : Refusal::Kind::unauthenticated;
}

TEST(AccessPolicy, OpenPolicyMakesEveryCallerAdminAndNamesWhatIsKnown) {
  const auto policy = AccessPolicy::open();
  CallerFacts c;
  EXPECT_EQ(identity(policy.authorize(c, Role::admin)).name, "anonymous");
  c.cert_subject = "CN=relayctl";
  EXPECT_EQ(identity(policy.authorize(c, Role::admin)).name, "cert:CN=relayctl");
  CallerFacts u;  // a unix-socket caller: the socket's mode was the gate
  u.uid = 1000;
  EXPECT_EQ(identity(policy.authorize(u, Role::admin)).name, "uid:1000");
}

TEST(AccessPolicy, TokensGiveTheirRole) {
  const auto policy =
      AccessPolicy::parse("# comment\n\n" + line("dash", "read", "t-read") + line("ops", "admin", "t-admin"), "f");
  EXPECT_EQ(policy.entries(), 2u);
  const Identity reader = identity(policy.authorize(with_token("t-read"), Role::read));
  EXPECT_EQ(reader.name, "token:dash");
  EXPECT_EQ(reader.role, Role::read);
  EXPECT_EQ(refusal(policy.authorize(with_token("t-read"), Role::admin)), Refusal::Kind::permission_denied);
  EXPECT_EQ(identity(policy.authorize(with_token("t-admin"), Role::admin)).name, "token:ops");
}

TEST(AccessPolicy, NoOrUnknownCredentialIsUnauthenticated) {
  const auto policy = AccessPolicy::parse(line("ops", "admin", "secret"), "f");
  EXPECT_EQ(refusal(policy.authorize(CallerFacts{}, Role::read)), Refusal::Kind::unauthenticated);
  EXPECT_EQ(refusal(policy.authorize(with_token("secreT"), Role::read)), Refusal::Kind::unauthenticated);
  EXPECT_EQ(refusal(policy.authorize(with_token(""), Role::read)), Refusal::Kind::unauthenticated);
  // An empty token file closes everything: no entry, no caller.
  EXPECT_EQ(refusal(AccessPolicy::parse("", "f").authorize(with_token("secret"), Role::read)),
            Refusal::Kind::unauthenticated);
}

TEST(AccessPolicy, CertificateSubjectsAndUidsMapToRoles) {
  const auto policy = AccessPolicy::parse("relayctl admin cert:CN=relayctl ops,O=Example\nbob read uid:1000\n", "f");
  CallerFacts c;
  c.cert_subject = "CN=relayctl ops,O=Example";
  EXPECT_EQ(identity(policy.authorize(c, Role::admin)).role, Role::admin);
  c.cert_subject = "CN=someone else";
  EXPECT_EQ(refusal(policy.authorize(c, Role::read)), Refusal::Kind::unauthenticated);
  CallerFacts u;
  u.uid = 1000;
  EXPECT_EQ(identity(policy.authorize(u, Role::read)).name, "uid:1000");
  EXPECT_EQ(refusal(policy.authorize(u, Role::admin)), Refusal::Kind::permission_denied);
  // Root is no exception: unlisted, it is unauthenticated, and the refusal still names it.
  u.uid = 0;
  const auto root = policy.authorize(u, Role::read);
  EXPECT_EQ(refusal(root), Refusal::Kind::unauthenticated);
  if (const auto* r = std::get_if<Refusal>(&root)) {
    EXPECT_EQ(r->who, "uid:0");
  }
  // A token decides alone: a listed uid that sends a wrong one is refused.
  u.uid = 1000;
  u.bearer_token = "not-in-the-file";
  EXPECT_EQ(refusal(policy.authorize(u, Role::read)), Refusal::Kind::unauthenticated);
}

TEST(AccessPolicy, BadLinesNameFileAndLine) {
  auto message = [](const std::string& text) {
    try {
      AccessPolicy::parse(text, "tokens.conf");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message("ok read sha256:" + std::string(64, 'a') + "\nops boss sha256:x\n"),
            "tokens.conf:2: role must be read or admin, not \"boss\"");
  EXPECT_EQ(message("ops admin sha256:abc"), "tokens.conf:1: sha256: must be followed by 64 hex digits");
  EXPECT_EQ(message("ops admin hunter2"),
            "tokens.conf:1: credential must be sha256:HEX (relayd certs token), cert:SUBJECT or uid:N");
  EXPECT_EQ(message("ops"), "tokens.conf:1: missing role (read or admin) after ops");
  EXPECT_EQ(message("bad\x1bname read uid:1"),
            "tokens.conf:1: a name is 1 to 64 of A-Z a-z 0-9 . _ - @, not \"bad\\x1bname\"");
  EXPECT_EQ(message("ops admin uid:12x"), "tokens.conf:1: uid: must be followed by a number");
}

TEST(TokenHash, RoundTripsAndNewTokensDiffer) {
  const auto a = certs::new_token();
  const auto b = certs::new_token();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 4u + 43u);
  certs::TokenHash parsed{};
  ASSERT_TRUE(certs::parse_token_hash(certs::token_hash_text(certs::hash_token(a)), parsed));
  EXPECT_TRUE(certs::same_hash(parsed, certs::hash_token(a)));
  EXPECT_FALSE(certs::same_hash(parsed, certs::hash_token(b)));
  // The SHA-256 of "abc" (FIPS 180-2), so the file format is plain SHA-256 anyone can compute.
  EXPECT_EQ(certs::token_hash_text(certs::hash_token("abc")),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace relay
