#include "relay_stats.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <sstream>

namespace relay::test {
namespace {

const std::string* lookup(const StatsRecord& r, std::string_view key) {
  const auto it = r.fields.find(key);
  if (it != r.fields.end()) return &it->second;
  ADD_FAILURE() << "stats for " << r.subject << " have no field '" << key << "'";
  return nullptr;
}

std::optional<StatsRecord> by_port(const std::map<std::string, StatsRecord>& m, std::uint16_t port) {
  for (const auto& [address, record] : m)
    if (address_port(address) == port) return record;
  return std::nullopt;
}

// Where the stats text begins: the word "stats" followed by a known subject.
std::size_t stats_start(std::string_view line) {
  for (std::string_view marker : {"stats listener=", "stats destination=", "stats queue"}) {
    const auto at = line.find(marker);
    if (at != std::string_view::npos && (at == 0 || line[at - 1] == ' ')) return at;
  }
  return std::string_view::npos;
}

}  // namespace

std::uint64_t StatsRecord::u(std::string_view key) const {
  const std::string* v = lookup(*this, key);
  if (v == nullptr) return 0;
  std::uint64_t out = 0;
  const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc{} || end != v->data() + v->size()) {
    ADD_FAILURE() << "stats " << subject << " " << key << "=" << *v << " is not an unsigned integer";
    return 0;
  }
  return out;
}

double StatsRecord::d(std::string_view key) const {
  const std::string* v = lookup(*this, key);
  return v == nullptr ? 0.0 : std::strtod(v->c_str(), nullptr);
}

std::string StatsRecord::s(std::string_view key) const {
  const std::string* v = lookup(*this, key);
  return v == nullptr ? std::string() : *v;
}

std::uint16_t address_port(std::string_view address) {
  address = address.substr(0, address.find('?'));
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return 0;
  unsigned port = 0;
  const auto digits = address.substr(colon + 1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc{} || end != digits.data() + digits.size() || port > 65535) return 0;
  return static_cast<std::uint16_t>(port);
}

RelayStats RelayStats::parse(const std::vector<std::string>& lines) {
  RelayStats stats;
  for (const auto& line : lines) {
    const auto at = stats_start(line);
    if (at != std::string_view::npos) stats.add(std::string_view(line).substr(at));
  }
  return stats;
}

void RelayStats::add(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string word, subject_token;
  in >> word >> subject_token;  // "stats", then "listener=ADDR" | "destination=ADDR" | "queue"
  StatsRecord r;
  const auto eq = subject_token.find('=');
  const std::string kind = subject_token.substr(0, eq);
  r.subject = eq == std::string::npos ? subject_token : subject_token.substr(eq + 1);
  while (in >> word) {
    const auto e = word.find('=');
    if (e != std::string::npos) r.fields[word.substr(0, e)] = word.substr(e + 1);
  }
  if (kind == "listener")
    listeners_[r.subject] = std::move(r);
  else if (kind == "destination")
    destinations_[r.subject] = std::move(r);
  else if (kind == "queue")
    queue_ = std::move(r);
}

std::optional<StatsRecord> RelayStats::listener(std::uint16_t port) const { return by_port(listeners_, port); }
std::optional<StatsRecord> RelayStats::destination(std::uint16_t port) const { return by_port(destinations_, port); }

}  // namespace relay::test
