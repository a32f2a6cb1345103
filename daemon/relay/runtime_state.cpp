#include "runtime_state.hpp"

#include <algorithm>

namespace relay {

namespace {

// The entry of `list` naming the same peer as `key`, or nullptr.
const std::string* find_peer(const std::vector<std::string>& list, const std::string& key) {
  const auto it = std::ranges::find_if(list, [&](const std::string& a) { return peer_key(a) == key; });
  return it == list.end() ? nullptr : &*it;
}

void erase_peer(std::vector<std::string>& list, const std::string& key) {
  std::erase_if(list, [&](const std::string& a) { return peer_key(a) == key; });
}

}  // namespace

std::string peer_key(std::string_view address) { return std::string(address.substr(0, address.find('?'))); }

std::vector<std::string> config_addresses(const Config& cfg) {
  std::vector<std::string> out;
  for (const auto& ep : cfg.destinations) out.push_back(ep.str());
  return out;
}

std::vector<EffectiveDestination> effective_destinations(const std::vector<std::string>& config,
                                                         const RuntimeState& state) {
  std::vector<EffectiveDestination> out;
  std::vector<std::string> peers;
  const auto take = [&](const std::string& address, Origin origin) {
    const std::string key = peer_key(address);
    if (std::ranges::find(peers, key) != peers.end()) return;  // one destination per peer
    peers.push_back(key);
    out.push_back({address, origin});
  };
  for (const auto& c : config)
    if (!find_peer(state.removed, peer_key(c))) take(c, Origin::config);
  for (const auto& a : state.added) take(a, Origin::api);
  return out;
}

std::vector<EffectiveDestination> effective_destinations(const Config& cfg, const RuntimeState& state) {
  return effective_destinations(config_addresses(cfg), state);
}

RuntimeState normalized(const std::vector<std::string>& config, RuntimeState state) {
  std::erase_if(state.removed, [&](const std::string& r) { return !find_peer(config, peer_key(r)); });
  std::erase_if(state.added, [&](const std::string& a) {
    const std::string key = peer_key(a);
    return find_peer(config, key) && !find_peer(state.removed, key);
  });
  return state;
}

RuntimeState with_added(const std::vector<std::string>& config, RuntimeState state, const std::string& address) {
  const std::string key = peer_key(address);
  erase_peer(state.added, key);
  const std::string* listed = find_peer(config, key);
  if (listed && *listed == address) {
    erase_peer(state.removed, key);  // exactly the config's again: its removal is undone
    return state;
  }
  // A peer the config lists is running only if removed (the client thread refuses a
  // duplicate), so its removal stays recorded and the API's version is an added one.
  state.added.push_back(address);
  return state;
}

RuntimeState with_removed(const std::vector<std::string>& config, RuntimeState state, const std::string& address) {
  const std::string key = peer_key(address);
  erase_peer(state.added, key);
  if (const std::string* listed = find_peer(config, key); listed && !find_peer(state.removed, key))
    state.removed.push_back(*listed);
  return state;
}

}  // namespace relay
