// tls_step: what one non-blocking OpenSSL call (handshake, read, write) on a session's socket
// came to, for either side of a TLS connection (egress/tls_session, ingest/tls_server_session).
// Thread: whichever owns the session.
#pragma once

#include <string>

struct ssl_st;

namespace relay {

enum class TlsStep {
  done,        // finished
  want_read,   // call again when the socket is readable
  want_write,  // call again when the socket is writable
  closed,      // the peer ended the session or the connection (the reason says how)
  failed,      // a TLS or socket error (the reason says which)
};

// The step a call on `ssl` that returned `ret` (<= 0) stands at; for closed and failed, `reason`
// is set to why (tls_reason.hpp). Call it right after the call, with errno untouched; the call
// must have started on an empty error queue (SSL_get_error reads it), and this empties it.
TlsStep tls_step_of(const ssl_st* ssl, int ret, std::string& reason);

}  // namespace relay
