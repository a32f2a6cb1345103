// tls_reason: OpenSSL's reasons as one short line for a log or an error message.
// Thread: any (OpenSSL's error queue is per thread).
#pragma once

#include <string>

struct ssl_st;

namespace relay {

// Empties this thread's OpenSSL error queue; returns its first reason ("" when it was empty).
std::string tls_error_queue_reason();

// Why a TLS call on `ssl` failed with SSL_get_error's `code` (`ret` is the call's result, `err`
// the errno right after it): certificate verification's verdict when that is what failed, else
// the error queue, else the system call's error or an end of file. Empties the error queue.
std::string tls_failure_reason(const ssl_st* ssl, int code, int err);

}  // namespace relay
