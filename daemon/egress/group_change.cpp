#include "group_change.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <vector>

#include "shard.hpp"

namespace relay {

namespace {

std::vector<std::string> member_addresses(const Endpoint& group) {
  std::vector<std::string> out;
  for (const auto& m : group.members) out.push_back(m.peer());
  return out;
}

}  // namespace

void log_keys_moved(const std::string& from_address, const Endpoint& to) {
  if (to.transport != Transport::group || to.group != GroupMode::hash || !from_address.starts_with("hash@")) return;
  try {
    const KeysMoved m = keys_moved(parse_endpoint(from_address, true), to);
    spdlog::info("group {} -> {}: {:.1f} % of keys change member ({} of {} sampled keys; members {} -> {})",
                 from_address, to.str(), 100.0 * static_cast<double>(m.moved) / static_cast<double>(m.sampled), m.moved,
                 m.sampled, std::ranges::count(from_address, ',') + 1, to.members.size());
  } catch (const EndpointError&) {  // the old address no longer resolves: nothing to compare
  }
}

KeysMoved keys_moved(const Endpoint& from, const Endpoint& to, std::size_t samples) {
  const auto before = member_addresses(from);
  const auto after = member_addresses(to);
  KeysMoved out;
  if (before.empty() || after.empty()) return out;
  for (std::size_t i = 0; i < samples; ++i) {
    const std::uint64_t h = key_hash("relay.key." + std::to_string(i));
    const auto& was = before[jump_bucket(h, static_cast<std::uint32_t>(before.size()))];
    const auto& now = after[jump_bucket(h, static_cast<std::uint32_t>(after.size()))];
    out.moved += was != now ? 1 : 0;
  }
  out.sampled = samples;
  return out;
}

}  // namespace relay
