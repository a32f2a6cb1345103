// endpoint: a parsed listener or destination address.
//
// Syntax (the seed's, extended):
//   udp@HOST:PORT            a UDP listener          (listen side only)
//   udp@HOST:PORT?reuseport=1  a UDP listener that shares its port with other sockets that ask
//                            the same (SO_REUSEPORT): several relayd on one host, each with its own
//                            queue, the kernel spreading senders over them by address and port
//   tcp@HOST:PORT            a TCP listener (ingest, lp32le frames) or a TCP destination
//   tcp@HOST:PORT?framing=F  a TCP destination with framing F: lp32le (default), lp32be, line, raw
//   tcp@HOST:PORT?delivery=D a TCP destination's delivery: at-least-once (default: what the peer's
//                            TCP has not acknowledged when a connection breaks is sent again) or
//                            at-most-once (a message written is never sent again). Combines with
//                            framing= ('&'-separated). tls@ destinations are at-most-once.
//   tls@HOST:PORT?OPTIONS    a TCP destination spoken to over TLS (destinations only). Options,
//                            '&'-separated, besides framing=: ca=/CA.pem (default: the system's
//                            trust store), sni=NAME (the name sent and checked against the
//                            certificate; default HOST when it is a name, else HOST's address
//                            is checked), cert=/CERT.pem and key=/KEY.pem (a client certificate:
//                            both or neither), verify=0 (no verification; verify=1 is the default).
//                            Paths are absolute; the files are read when the destination is added
//                            (egress/tls_context.hpp), not here.
//   tls@HOST:PORT?cert=/CERT.pem&key=/KEY.pem[&client_ca=/CA.pem]
//                            a TLS listener (ingest, lp32le frames inside TLS): its certificate
//                            chain and key (both required); with client_ca=, clients must present
//                            a certificate signed by that CA (mutual TLS). No other option. The
//                            files are read when the listener is created (ingest/tls_server_context.hpp).
//   kafka@HOST:PORT[,HOST:PORT...]/TOPIC[?OPTIONS]
//                            a Kafka topic, through librdkafka (egress/kafka_publisher.hpp, which
//                            checks the options); the brokers are bootstrap servers, resolved by
//                            the library
//   nats@HOST:PORT[,HOST:PORT...]/SUBJECT[?OPTIONS]
//                            a NATS JetStream subject (egress/nats_publisher.hpp)
//   hash@HOST:PORT,HOST:PORT...[?OPTIONS]   a destination group (egress/group_publisher.hpp):
//   any@HOST:PORT,...  failover@HOST:PORT,...  TCP members sharing the stream — by a key's hash,
//                            to the least-lagged healthy member, or to the first healthy one
// HOST is an IPv4 address, a bracketed IPv6 address ([::1]) or a name resolved once at parse time
// (localhost). Parsing throws EndpointError with a one-line reason naming the bad part.
// Thread: any; parse_endpoint may block in the resolver, so it runs at start-up (main thread) or
// on a control thread, never on the data path.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relay {

enum class Transport { udp, tcp, kafka, nats, group };

// How a destination group spreads messages over its members (egress/group_publisher.hpp).
enum class GroupMode { hash, any, failover };
std::string_view to_string(GroupMode m) noexcept;

// How a destination turns a queued message into bytes on its TCP connection.
enum class Framing {
  lp32le,  // 4-byte little-endian payload length, then the payload (the seed's wire format)
  lp32be,  // 4-byte big-endian payload length, then the payload
  line,    // payload, then '\n' unless the payload already ends in one
  raw,     // payload bytes as they are
};

// What a destination sends again after a broken connection (egress/destination.hpp).
enum class Delivery {
  at_least_once,  // every message the peer's TCP did not acknowledge
  at_most_once,   // only a message the break cut in half (whole, so no frame is torn)
};

std::string_view to_string(Delivery d) noexcept;
std::string_view to_string(Framing f) noexcept;
// Throws EndpointError on an unknown name.
Framing parse_framing(std::string_view name);

// A tls@ address's options, as written (validated in form only; see the syntax above).
struct TlsOptions {
  std::string ca;    // destinations: absolute path, or empty: the system's trust store
  std::string sni;   // destinations: empty: HOST is an address literal, checked as an IP
  std::string cert;  // absolute paths; destinations: both set or both empty, listeners: both set
  std::string key;
  std::string client_ca;  // listeners: absolute path, or empty: no client certificate asked for
  bool verify = true;     // destinations
  bool operator==(const TlsOptions&) const = default;
};

// What a destination address may be (the error for a udp@ one).
inline constexpr const char* kDestinationKinds =
    "destinations are tcp@, tls@, kafka@, nats@, hash@, any@ or failover@ addresses";

class EndpointError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct Endpoint {
  Transport transport = Transport::udp;
  std::string host;  // as written, without brackets
  std::uint16_t port = 0;
  Framing framing = Framing::lp32le;
  Delivery delivery = Delivery::at_least_once;  // tls@: always at_most_once
  std::optional<TlsOptions> tls;                // set for tls@ destinations and listeners (transport is then tcp)
  bool reuseport = false;                       // udp@ listeners: ?reuseport=1 (SO_REUSEPORT)
  // kafka@ and nats@: the servers as written ("HOST:PORT", resolved by the library) and the
  // topic or subject. Groups: `members` (tcp endpoints, resolved, with the group's framing).
  std::vector<std::string> servers;
  std::string topic;
  GroupMode group = GroupMode::hash;
  std::vector<Endpoint> members;
  // kafka@, nats@ and groups: the options besides framing=, as KEY=VALUE in the order written;
  // make_publisher (egress/publisher.hpp) checks them.
  std::vector<std::pair<std::string, std::string>> options;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;

  // Canonical text: "tcp@127.0.0.1:2009", with "?framing=line" when not the default; a tls@
  // address shows every option that is set, in a fixed order (framing, ca, sni, cert, key,
  // client_ca, verify), and a destination's sni even when it came from HOST, so the text parses
  // back to the same peer (or listener) and the same checks.
  std::string str() const;
  int family() const noexcept { return addr.ss_family; }
  // Where the messages go, without how: what two destinations must not share (the peer, the
  // topic, the members).
  std::string peer() const;
  // The same address with another port (in `port` and in `addr`).
  void set_port(std::uint16_t p) noexcept;
};

// Parses and resolves. `destination` is false for listeners: no "?framing=", options only on
// tls@ (cert=, key=, client_ca=), and port 0 (the kernel picks one) is allowed. A v4-mapped IPv6 address becomes its
// IPv4 address, a scoped IPv6 address ("[fe80::1%eth0]") carries its interface's index, so each peer has one canonical
// text. Control characters are refused, and error messages escape what they repeat.
Endpoint parse_endpoint(std::string_view text, bool destination = true);

}  // namespace relay
