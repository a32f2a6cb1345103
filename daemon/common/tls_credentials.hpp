// tls_credentials: the PEM files a tls@ address names (a CA bundle, a certificate chain and its
// key), read and loaded into an OpenSSL context when the destination is added or the listener
// created (egress/tls_context, ingest/tls_server_context), never later on a data-path thread.
//
// Every failure is an EndpointError naming the address, the option and the file, and what is
// wrong: "bad address \"tls@...\": key=/k.pem is not the private key of cert=/c.pem".
// Thread: the caller's (main or control); the context is not yet shared.
#pragma once

#include <string>
#include <string_view>

#include "endpoint.hpp"

struct ssl_ctx_st;

namespace relay {

// Throws the EndpointError for `ep` with `why` (escaped).
[[noreturn]] void refuse_tls_address(const Endpoint& ep, std::string_view why);

// The whole file behind `option`=`path` (small files only, certs/pem_file.hpp).
std::string read_tls_file(const Endpoint& ep, std::string_view option, const std::string& path);

// Every certificate of the bundle into the context's trust store; at least one is required.
void load_trusted_cas(const Endpoint& ep, ssl_ctx_st* ctx, std::string_view option, const std::string& path);

// The certificate chain (the leaf first, then any intermediates) and its private key; the key
// must be the leaf's.
void load_certificate_and_key(const Endpoint& ep, ssl_ctx_st* ctx, const std::string& cert, const std::string& key);

}  // namespace relay
