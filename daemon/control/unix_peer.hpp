// unix_peer: who is on the other end of a unix control connection, as the kernel says
// (SO_PEERCRED), found again from a gRPC call's peer string.
//
// relayd accepts unix control connections itself (unix_listener.hpp) and hands each descriptor
// to gRPC (grpc::AddInsecureChannelFromFd), which then names the call's peer "fd:N" and nothing
// more. So the credentials read at accept time are kept here by descriptor number, before the
// handoff. A number cannot be reused while gRPC holds the descriptor; once gRPC has closed it,
// the entry is stale and is overwritten by the next handoff of that number. A lookup also checks
// that descriptor N is still the very socket that was accepted (device and inode), so a number
// reused by anything else (an ingest connection, a file) never inherits a uid.
//
// Thread: remember() runs on the accept thread, find() on gRPC's threads; a mutex guards the
// table (control plane only, a few calls a second at most).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace relay {

struct UnixPeer {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::string path;  // the control socket's path, for the peer text
  dev_t dev = 0;     // the accepted socket's identity (fstat), to tell a reused number
  ino_t ino = 0;

  // "unix:/run/relayd/control.sock uid=1000 pid=4242"
  std::string text() const;
};

// The credentials of an accepted unix socket `fd` (SO_PEERCRED and fstat); nullopt (errno set)
// when the kernel gives none.
std::optional<UnixPeer> read_unix_peer(int fd, const std::string& path);

// Records `peer` for descriptor `fd` before it is handed to gRPC.
void remember_unix_peer(int fd, UnixPeer peer);

// The peer of a call whose gRPC peer string is `grpc_peer` ("fd:N"), if N is a descriptor this
// process accepted on a unix control socket and still holds.
std::optional<UnixPeer> find_unix_peer(std::string_view grpc_peer);

}  // namespace relay
