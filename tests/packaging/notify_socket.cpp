#include "notify_socket.hpp"

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace relay::test {

bool Notification::has(const std::string& line) const {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (l == line) return true;
  return false;
}

std::string Notification::value(const std::string& key) const {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (l.starts_with(key + "=")) return l.substr(key.size() + 1);
  return {};
}

NotifySocket::NotifySocket() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "relayd-notify-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
  dir_ = tmpl;
  path_ = dir_ + "/notify";
  fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd_) throw std::system_error(errno, std::generic_category(), "socket(AF_UNIX)");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    throw std::system_error(errno, std::generic_category(), "bind " + path_);
}

NotifySocket::~NotifySocket() {
  fd_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void NotifySocket::read_available(std::chrono::milliseconds wait) {
  pollfd p{fd_.get(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) return;
    messages_.push_back({std::string(buf, static_cast<std::size_t>(n)), Clock::now()});
  }
}

bool NotifySocket::wait_for(const std::function<bool(const std::vector<Notification>&)>& done,
                            std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + scaled(timeout);
  while (!done(messages_)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return done(messages_);
    read_available(std::min(left, std::chrono::milliseconds(50)));
  }
  return true;
}

std::size_t NotifySocket::index_of(const std::string& line, std::size_t from) const {
  for (std::size_t i = from; i < messages_.size(); ++i)
    if (messages_[i].has(line)) return i;
  return messages_.size();
}

std::size_t NotifySocket::count(const std::string& line) const {
  std::size_t n = 0;
  for (const auto& m : messages_) n += m.has(line);
  return n;
}

std::string NotifySocket::dump() const {
  std::string out = "notifications received:\n";
  for (const auto& m : messages_) out += "  [" + m.text + "]\n";
  return out;
}

}  // namespace relay::test
