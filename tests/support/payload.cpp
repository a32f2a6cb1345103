#include "payload.hpp"

#include <time.h>

#include <cstring>

namespace relay::test {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void write_hex16(char* out, std::uint64_t v) noexcept {
  for (int i = 15; i >= 0; --i) {
    out[i] = kHex[v & 0xf];
    v >>= 4;
  }
}

std::optional<std::uint64_t> read_hex16(std::string_view s) noexcept {
  if (s.size() < 16) return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    const char c = s[i];
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else
      return std::nullopt;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  return v;
}

}  // namespace

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::size_t write_payload(char* out, std::uint64_t seq, std::uint64_t ts_ns, std::size_t size) noexcept {
  if (size < kPayloadHeader) size = kPayloadHeader;
  write_hex16(out, seq);
  out[16] = ' ';
  write_hex16(out + 17, ts_ns);
  out[33] = ' ';
  std::memset(out + kPayloadHeader, 'x', size - kPayloadHeader);
  return size;
}

std::string make_payload(std::uint64_t seq, std::size_t size) {
  std::string p(size < kPayloadHeader ? kPayloadHeader : size, '\0');
  write_payload(p.data(), seq, monotonic_ns(), p.size());
  return p;
}

std::optional<std::uint64_t> parse_seq(std::string_view payload) noexcept {
  if (payload.size() < kPayloadHeader || payload[16] != ' ' || payload[33] != ' ') return std::nullopt;
  return read_hex16(payload);
}

std::optional<std::uint64_t> parse_timestamp(std::string_view payload) noexcept {
  if (!parse_seq(payload)) return std::nullopt;
  return read_hex16(payload.substr(17));
}

}  // namespace relay::test
