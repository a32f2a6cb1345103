#include "state_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "state_error.hpp"

namespace relay {

namespace {

constexpr std::string_view kHeader =
    "# relayd state (docs/STATE.md): the destinations added or removed through the API.\n"
    "# Written by relayd. Do not edit: a changed byte fails the checksum and stops start-up\n"
    "# (relayd --reset-state discards this file).\n";
constexpr std::string_view kVersionWord = "relayd-state ";
constexpr std::string_view kAdded = "added ";
constexpr std::string_view kRemoved = "removed ";
constexpr std::string_view kChecksum = "checksum fnv1a64 ";

class Parser {
 public:
  Parser(std::string_view text, const std::string& file) : text_(text), file_(file) {}

  RuntimeState parse() {
    if (!text_.ends_with('\n')) fail(count_lines(), "the file does not end with a newline (cut short?)");
    const std::size_t sum_at = checksum_line_start();
    check_sum(text_.substr(sum_at), fnv1a64(text_.substr(0, sum_at)));
    RuntimeState state;
    bool versioned = false;
    std::size_t at = 0;
    for (int n = 1; at < sum_at; ++n) {
      const std::size_t end = text_.find('\n', at);
      read_line(text_.substr(at, end - at), n, versioned, state);
      at = end + 1;
    }
    if (!versioned) fail(1, "no 'relayd-state N' version line");
    return state;
  }

 private:
  [[noreturn]] void fail(int line, std::string_view why) const {
    throw StateError(fmt::format("state file {}: line {}: {}", file_, line, why));
  }

  int count_lines() const { return static_cast<int>(std::ranges::count(text_, '\n')) + 1; }

  // The last line is the checksum: where it starts.
  std::size_t checksum_line_start() const {
    const std::size_t before = text_.rfind('\n', text_.size() - 2);
    const std::size_t at = before == std::string_view::npos ? 0 : before + 1;
    if (!text_.substr(at).starts_with(kChecksum))
      fail(count_lines() - 1, "the last line is not 'checksum fnv1a64 HEX' (cut short or edited?)");
    return at;
  }

  void check_sum(std::string_view line, std::uint64_t actual) const {
    const std::string_view hex = line.substr(kChecksum.size(), line.size() - kChecksum.size() - 1);
    if (hex != fmt::format("{:016x}", actual))
      fail(count_lines() - 1,
           fmt::format("checksum {} does not match the content ({:016x}): the file is damaged", hex, actual));
  }

  void read_line(std::string_view line, int n, bool& versioned, RuntimeState& state) const {
    if (!versioned) {
      if (line.starts_with('#')) return;
      if (!line.starts_with(kVersionWord)) fail(n, "expected 'relayd-state N' first");
      const std::string_view v = line.substr(kVersionWord.size());
      if (v != std::to_string(kStateVersion))
        fail(n, fmt::format("version '{}' is not understood (this relayd reads version {})", v, kStateVersion));
      versioned = true;
      return;
    }
    if (line.starts_with(kAdded)) return state.added.push_back(address(line.substr(kAdded.size()), n));
    if (line.starts_with(kRemoved)) return state.removed.push_back(address(line.substr(kRemoved.size()), n));
    fail(n, "expected 'added ADDRESS' or 'removed ADDRESS'");
  }

  std::string address(std::string_view a, int n) const {
    if (!a.starts_with("tcp@") && !a.starts_with("tls@")) fail(n, "an address is tcp@HOST:PORT or tls@HOST:PORT");
    if (std::ranges::any_of(a, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
      fail(n, "control character in the address");
    return std::string(a);
  }

  std::string_view text_;
  const std::string& file_;
};

}  // namespace

std::uint64_t fnv1a64(std::string_view bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string format_state(const RuntimeState& state) {
  std::string body(kHeader);
  body += fmt::format("{}{}\n", kVersionWord, kStateVersion);
  for (const auto& a : state.added) body += fmt::format("{}{}\n", kAdded, a);
  for (const auto& r : state.removed) body += fmt::format("{}{}\n", kRemoved, r);
  return body + fmt::format("{}{:016x}\n", kChecksum, fnv1a64(body));
}

RuntimeState parse_state(std::string_view text, const std::string& file) {
  if (text.empty()) throw StateError(fmt::format("state file {}: empty (relayd writes at least a version line)", file));
  return Parser(text, file).parse();
}

}  // namespace relay
