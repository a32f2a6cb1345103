// publisher_endpoint: the addresses of destinations that go through a Publisher
// (egress/publisher.hpp) — kafka@BROKERS/TOPIC, nats@SERVERS/SUBJECT and the destination groups
// hash@, any@ and failover@ (their syntax is in endpoint.hpp). Parsed apart from the single-peer
// addresses because each names a list of servers and carries options only its publisher knows.
// Thread: any; a group's members are resolved here (see parse_endpoint).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "endpoint.hpp"

namespace relay {

// The transport a scheme ("kafka", "nats", "hash", "any", "failover") names, or nullopt.
std::optional<Transport> publisher_transport(std::string_view scheme) noexcept;
// `text` starts with one of those schemes. Throws EndpointError naming the bad part.
Endpoint parse_publisher_endpoint(std::string_view text);
// The canonical text: servers and members as given (members by address), options in the order
// written, framing first.
std::string publisher_endpoint_str(const Endpoint& ep);
// The text without options: what two destinations must not share.
std::string publisher_endpoint_peer(const Endpoint& ep);

}  // namespace relay
