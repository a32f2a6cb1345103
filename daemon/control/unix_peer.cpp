#include "unix_peer.hpp"

#include <sys/socket.h>
#include <sys/stat.h>

#include <charconv>
#include <mutex>
#include <unordered_map>

namespace relay {

namespace {

// gRPC 1.51 names a connection added with AddInsecureChannelFromFd "fd:N" (its
// grpc_server_add_channel_from_fd; checked by unix_peer_test through GetInfo).
constexpr std::string_view kFdPeerPrefix = "fd:";

struct Table {
  std::mutex mu;
  std::unordered_map<int, UnixPeer> by_fd;
};

// Process-wide, as descriptor numbers are; never destroyed, so gRPC threads still running at
// exit cannot find it gone.
Table& table() {
  static Table* t = new Table;
  return *t;
}

std::optional<int> fd_of(std::string_view grpc_peer) {
  if (!grpc_peer.starts_with(kFdPeerPrefix)) return std::nullopt;
  grpc_peer.remove_prefix(kFdPeerPrefix.size());
  int fd = -1;
  const auto [end, ec] = std::from_chars(grpc_peer.data(), grpc_peer.data() + grpc_peer.size(), fd);
  if (ec != std::errc() || end != grpc_peer.data() + grpc_peer.size() || fd < 0) return std::nullopt;
  return fd;
}

}  // namespace

std::string UnixPeer::text() const {
  return "unix:" + path + " uid=" + std::to_string(uid) + " pid=" + std::to_string(pid);
}

std::optional<UnixPeer> read_unix_peer(int fd, const std::string& path) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) return std::nullopt;
  struct stat st {};
  if (fstat(fd, &st) != 0) return std::nullopt;
  UnixPeer peer;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  peer.pid = cred.pid;
  peer.path = path;
  peer.dev = st.st_dev;
  peer.ino = st.st_ino;
  return peer;
}

void remember_unix_peer(int fd, UnixPeer peer) {
  Table& t = table();
  std::lock_guard lock(t.mu);
  t.by_fd.insert_or_assign(fd, std::move(peer));
}

std::optional<UnixPeer> find_unix_peer(std::string_view grpc_peer) {
  const auto fd = fd_of(grpc_peer);
  if (!fd) return std::nullopt;
  std::optional<UnixPeer> peer;
  {
    Table& t = table();
    std::lock_guard lock(t.mu);
    const auto it = t.by_fd.find(*fd);
    if (it == t.by_fd.end()) return std::nullopt;
    peer = it->second;
  }
  struct stat st {};
  if (fstat(*fd, &st) != 0 || st.st_dev != peer->dev || st.st_ino != peer->ino) return std::nullopt;
  return peer;
}

}  // namespace relay
