#include "control_caller.hpp"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/grpcpp.h>

#include "printable.hpp"
#include "unix_peer.hpp"

namespace relay {

namespace {

std::optional<std::string> bearer_token(const grpc::ServerContext& context) {
  const auto& md = context.client_metadata();
  const auto it = md.find("authorization");
  if (it == md.end()) return std::nullopt;
  const std::string_view value(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  // Anything but a bearer token is still a credential presented: it must not pass as "none".
  if (!value.starts_with(kBearer)) return std::string(value);
  return std::string(value.substr(kBearer.size()));
}

// Set only when TLS verified a client certificate: relayd requests one only with a client CA,
// and then gRPC refuses the handshake unless the chain verifies.
std::optional<std::string> cert_subject(const grpc::ServerContext& context) {
  const auto auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return std::nullopt;
  const auto values = auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME);
  if (values.empty()) return std::nullopt;
  return std::string(values.front().data(), values.front().size());
}

}  // namespace

CallerFacts caller_facts(const grpc::ServerContext& context) {
  CallerFacts facts;
  facts.peer = context.peer();
  // A connection relayd accepted on its unix socket: gRPC calls it "fd:N"; the kernel told the
  // uid at accept time.
  if (const auto peer = find_unix_peer(facts.peer)) {
    facts.uid = peer->uid;
    facts.peer = peer->text();
  }
  facts.bearer_token = bearer_token(context);
  facts.cert_subject = cert_subject(context);
  return facts;
}

std::string describe(const Identity& who, const CallerFacts& caller) {
  return printable(who.name, 160) + " from " + printable(caller.peer, 80);
}

}  // namespace relay
