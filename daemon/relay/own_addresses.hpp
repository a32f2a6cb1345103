// own_addresses: the TCP addresses relayd itself listens on — its TCP listeners and its control
// port — so that no destination can point back into relayd. A destination at its own listener
// makes every message circulate forever (two of them amplify), and a `raw` destination at the
// control port lets anyone who can send a UDP datagram speak to the control API.
//
// A destination reaches an own address when the ports match and the addresses do, or when the
// own address is a wildcard (0.0.0.0, ::) and the destination's address is local: loopback, any
// address of this host's interfaces, or a wildcard itself (connecting to 0.0.0.0 reaches this
// host). Addresses are canonical (endpoint.hpp: v4-mapped IPv6 is already IPv4).
//
// Thread: add() from the main thread at start-up and remove()/add() on a reload, reached_by() from the main thread and
// the control service's threads; a mutex guards the list (the control path, never the data path).
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "endpoint.hpp"

namespace relay {

class OwnAddresses {
 public:
  // A TCP address relayd listens on, with its real port.
  void add(const Endpoint& bound);
  // A listener a reload removed (canonical text, as bound).
  void remove(const std::string& bound);
  // The own address (canonical text) that a connection to `dest` would reach, or nullopt.
  std::optional<std::string> reached_by(const Endpoint& dest) const;

 private:
  mutable std::mutex mutex_;
  std::vector<Endpoint> own_;
};

}  // namespace relay
