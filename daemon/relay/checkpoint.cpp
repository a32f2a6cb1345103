#include "checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <sstream>

#include "clock.hpp"
#include "file_replace.hpp"
#include "runtime_state.hpp"
#include "state_format.hpp"

namespace relay {

namespace {

constexpr std::string_view kVersionLine = "relayd-positions 1";
constexpr std::string_view kChecksumPrefix = "checksum fnv1a64 ";

std::string reason() { return std::strerror(errno); }

bool read_file(const std::string& path, std::string& out, std::string& why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why = errno == ENOENT ? "none yet" : reason();
    return false;
  }
  char buf[8192];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  if (n < 0) why = reason();
  ::close(fd);
  return n == 0;
}

}  // namespace

std::string format_positions(const std::vector<RecordedPosition>& positions) {
  std::string text = std::string(kVersionLine) + "\n";
  for (const auto& p : positions) text += fmt::format("{} {}\n", p.address, p.id);
  return text + fmt::format("{}{:016x}\n", kChecksumPrefix, fnv1a64(text));
}

std::optional<std::vector<RecordedPosition>> parse_positions(const std::string& text, std::string& why) {
  const auto sum_at = text.rfind(kChecksumPrefix);
  if (!text.starts_with(std::string(kVersionLine) + "\n") || sum_at == std::string::npos) {
    why = "not a positions file (version or checksum line missing)";
    return std::nullopt;
  }
  if (text.substr(sum_at) != fmt::format("{}{:016x}\n", kChecksumPrefix, fnv1a64(text.substr(0, sum_at)))) {
    why = "checksum mismatch (a damaged or partly written file)";
    return std::nullopt;
  }
  std::vector<RecordedPosition> out;
  std::istringstream lines(text.substr(kVersionLine.size() + 1, sum_at - kVersionLine.size() - 1));
  for (std::string line; std::getline(lines, line);) {
    const auto space = line.rfind(' ');
    RecordedPosition p;
    const char* end = line.data() + line.size();
    if (space == std::string::npos || std::from_chars(line.data() + space + 1, end, p.id).ptr != end) {
      why = "bad line: " + line;
      return std::nullopt;
    }
    p.address = line.substr(0, space);
    out.push_back(std::move(p));
  }
  return out;
}

Checkpoint::Checkpoint(std::string dir, Fsync fsync)
    : dir_(std::move(dir)), file_(dir_ + "/" + kFileName), temp_(file_ + ".tmp"), fsync_(fsync) {}

std::optional<std::map<std::string, std::uint64_t>> Checkpoint::load() const {
  std::string text, why;
  std::optional<std::vector<RecordedPosition>> parsed;
  if (read_file(file_, text, why)) parsed = parse_positions(text, why);
  if (!parsed) {
    if (why != "none yet")
      spdlog::warn(
          "data directory: positions file {} not used: {}; destinations start at the oldest recovered "
          "message (duplicates rather than loss)",
          file_, why);
    return std::nullopt;
  }
  std::map<std::string, std::uint64_t> out;
  for (const auto& p : *parsed) out[peer_key(p.address)] = p.id;
  return out;
}

bool Checkpoint::save(const std::vector<RecordedPosition>& positions) {
  std::string text = format_positions(positions);
  if (text == last_) return true;
  if (const auto failed = replace_file(dir_, file_, temp_, text, fsync_ != Fsync::never)) {
    if (error_log_.allow(steady_ns()))
      spdlog::error("data directory: cannot record positions in {}: {}; the queue keeps every segment until it can",
                    file_, std::strerror(failed->error));
    return false;
  }
  last_ = std::move(text);
  return true;
}

}  // namespace relay
