#include "endpoint.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

#include "printable.hpp"
#include "publisher_endpoint.hpp"

namespace relay {
namespace {

constexpr std::string_view kSyntax = "udp@HOST:PORT";

struct Parts {
  Transport transport = Transport::udp;
  bool tls = false;  // "tls@": a tcp destination spoken to over TLS
  std::string_view host;
  std::string_view port;
  std::string_view options;
  bool bracketed = false;
};

constexpr std::size_t kMaxText = 512;  // far above any real address; a longer one is refused

// Every parse error carries the whole address so a config with many endpoints points at one.
[[noreturn]] void fail(std::string_view text, std::string_view why) {
  throw EndpointError(fmt::format("bad address \"{}\": {}", printable(text), printable(why)));
}

// Bytes no address contains; an embedded NUL would otherwise cut the host short unseen.
void check_bytes(std::string_view text) {
  if (text.size() > kMaxText) fail(text, fmt::format("longer than {} bytes", kMaxText));
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) fail(text, fmt::format("control character 0x{:02x} in the address", byte));
  }
}

Transport parse_transport(std::string_view text, std::string_view name) {
  if (name == "udp") return Transport::udp;
  if (name == "tcp" || name == "tls") return Transport::tcp;
  fail(text,
       fmt::format("unknown transport \"{}\" (expected udp, tcp, tls, kafka, nats, hash, any or failover)", name));
}

// Splits "HOST:PORT" or "[V6]:PORT"; the colon search runs from the right so a missing port
// is reported as such rather than as a malformed host.
void split_host_port(std::string_view text, std::string_view rest, Parts& p) {
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) fail(text, "missing ']' after IPv6 address");
    p.host = rest.substr(1, close - 1);
    p.bracketed = true;
    rest.remove_prefix(close + 1);
    if (!rest.starts_with(':')) fail(text, fmt::format("missing port (expected {})", kSyntax));
    p.port = rest.substr(1);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) fail(text, fmt::format("missing port (expected {})", kSyntax));
    p.host = rest.substr(0, colon);
    p.port = rest.substr(colon + 1);
    if (p.host.find(':') != std::string_view::npos)
      fail(text, fmt::format("IPv6 address \"{}\" must be bracketed, e.g. [::1]:PORT", p.host));
  }
  if (p.host.empty()) fail(text, fmt::format("missing host (expected {})", kSyntax));
  if (p.port.empty()) fail(text, fmt::format("missing port (expected {})", kSyntax));
}

Parts split(std::string_view text) {
  Parts p;
  const auto at = text.find('@');
  if (at == std::string_view::npos)
    fail(text,
         "missing transport (expected udp@, tcp@, tls@, kafka@, nats@, hash@, any@ or failover@ before HOST:PORT)");
  p.transport = parse_transport(text, text.substr(0, at));
  p.tls = text.substr(0, at) == "tls";
  std::string_view rest = text.substr(at + 1);
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    p.options = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  split_host_port(text, rest, p);
  return p;
}

std::uint16_t parse_port(std::string_view text, std::string_view port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec == std::errc::result_out_of_range || (ec == std::errc{} && end == port.data() + port.size() && value > 65535))
    fail(text, fmt::format("port \"{}\" out of range (0..65535)", port));
  if (ec != std::errc{} || end != port.data() + port.size())
    fail(text, fmt::format("bad port \"{}\" (expected a number 0..65535)", port));
  return static_cast<std::uint16_t>(value);
}

// The options a tls@ destination takes besides framing, and those a tls@ listener takes (see
// endpoint.hpp).
constexpr std::string_view kTlsOptions = "framing=F, ca=/PATH, sni=NAME, cert=/PATH, key=/PATH or verify=0|1";
constexpr std::string_view kTlsListenerOptions = "cert=/PATH, key=/PATH or client_ca=/PATH";

void set_path(std::string_view text, std::string_view key, std::string_view value, std::string& out) {
  if (!value.starts_with('/')) fail(text, fmt::format("{}= needs an absolute path, not \"{}\"", key, value));
  out = std::string(value);
}

// A DNS name as SNI carries it (RFC 6066: no address literals, no trailing dot needed).
bool is_dns_name(std::string_view value) {
  constexpr std::size_t kMaxName = 253;
  const bool chars_ok = std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
  in_addr scratch{};
  return chars_ok && !value.empty() && value.size() <= kMaxName && !value.starts_with('.') &&
         inet_pton(AF_INET, std::string(value).c_str(), &scratch) != 1;
}

void set_sni(std::string_view text, std::string_view value, TlsOptions& tls) {
  if (!is_dns_name(value)) fail(text, fmt::format("sni=\"{}\" is not a DNS name", value));
  tls.sni = std::string(value);
}

void set_verify(std::string_view text, std::string_view value, TlsOptions& tls) {
  if (value != "0" && value != "1") fail(text, fmt::format("verify=\"{}\" (expected verify=0 or verify=1)", value));
  tls.verify = value == "1";
}

// One tls@ destination option; false when `key` is not one.
bool apply_tls_option(std::string_view text, std::string_view key, std::string_view value, TlsOptions& tls) {
  if (key == "ca") return set_path(text, key, value, tls.ca), true;
  if (key == "cert") return set_path(text, key, value, tls.cert), true;
  if (key == "key") return set_path(text, key, value, tls.key), true;
  if (key == "sni") return set_sni(text, value, tls), true;
  if (key == "verify") return set_verify(text, value, tls), true;
  return false;
}

// One tls@ listener option; false when `key` is not one.
bool apply_tls_listener_option(std::string_view text, std::string_view key, std::string_view value, TlsOptions& tls) {
  if (key == "cert") return set_path(text, key, value, tls.cert), true;
  if (key == "key") return set_path(text, key, value, tls.key), true;
  if (key == "client_ca") return set_path(text, key, value, tls.client_ca), true;
  return false;
}

bool is_tls_key(std::string_view key) {
  return key == "ca" || key == "cert" || key == "key" || key == "sni" || key == "verify" || key == "client_ca";
}

void set_framing(std::string_view text, std::string_view value, bool destination, Endpoint& ep) {
  if (!destination) fail(text, "a listener reads lp32le frames; framing= applies to destinations only");
  try {
    ep.framing = parse_framing(value);
  } catch (const EndpointError& e) {
    fail(text, e.what());
  }
}

// TLS records hide which plaintext bytes the peer acknowledged, so tls@ stays at-most-once.
void set_delivery(std::string_view text, std::string_view value, bool destination, Endpoint& ep) {
  if (!destination) fail(text, "delivery= applies to destinations only");
  if (value == "at-most-once") {
    ep.delivery = Delivery::at_most_once;
  } else if (value != "at-least-once") {
    fail(text, fmt::format("unknown delivery \"{}\" (expected at-least-once or at-most-once)", value));
  } else if (ep.tls) {
    fail(text, "tls@ destinations are at-most-once: TCP acknowledges TLS records, not messages");
  }
}

// A TLS option `key` that `ep` does not take: which side it belongs to.
[[noreturn]] void misplaced_tls_option(std::string_view text, std::string_view key) {
  if (key == "client_ca") fail(text, "option \"client_ca\" applies only to tls@ listeners");
  fail(text, fmt::format("option \"{}\" applies only to tls@ destinations", key));
}

// One "key=value" option of a tcp or tls destination or of a tls listener.
void apply_option(std::string_view text, std::string_view opt, bool destination, Endpoint& ep) {
  const std::string_view expected = !destination ? kTlsListenerOptions
                                    : ep.tls     ? kTlsOptions
                                                 : "framing=F or delivery=at-least-once|at-most-once";
  const auto eq = opt.find('=');
  const std::string_view key = opt.substr(0, eq);
  if (eq == std::string_view::npos) fail(text, fmt::format("unknown option \"{}\" (expected {})", opt, expected));
  const std::string_view value = opt.substr(eq + 1);
  if (key == "framing") return set_framing(text, value, destination, ep);
  if (key == "delivery") return set_delivery(text, value, destination, ep);
  if (value.empty() && is_tls_key(key)) fail(text, fmt::format("option \"{}\" has no value", key));
  const bool applied = destination ? ep.tls && apply_tls_option(text, key, value, *ep.tls)
                                   : apply_tls_listener_option(text, key, value, *ep.tls);
  if (applied) return;
  if (is_tls_key(key)) misplaced_tls_option(text, key);
  fail(text, fmt::format("unknown option \"{}\" (expected {})", opt, expected));
}

// "framing=F" for every tcp destination, the TLS options for tls@ ones and for tls@ listeners;
// '&'-separated, each at most once.
void apply_options(std::string_view text, std::string_view options, bool destination, Endpoint& ep) {
  if (!options.empty() && ep.transport != Transport::tcp) fail(text, "options apply only to tcp destinations");
  std::vector<std::string_view> seen;
  while (!options.empty()) {
    const auto amp = options.find('&');
    const std::string_view opt = options.substr(0, amp);
    options = amp == std::string_view::npos ? std::string_view{} : options.substr(amp + 1);
    const std::string_view key = opt.substr(0, opt.find('='));
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      fail(text, fmt::format("option \"{}\" given twice", key));
    seen.push_back(key);
    apply_option(text, opt, destination, ep);
  }
  if (!ep.tls) return;
  if (!destination && (ep.tls->cert.empty() || ep.tls->key.empty()))
    fail(text, "a tls@ listener needs cert= and key= (its certificate and private key)");
  if (ep.tls->cert.empty() != ep.tls->key.empty()) fail(text, "a client certificate needs both cert= and key=");
}

// A tls@ destination named by a DNS name checks that name unless sni= says another.
void default_sni(std::string_view text, const Parts& p, Endpoint& ep) {
  if (!ep.tls || !ep.tls->sni.empty() || p.bracketed) return;
  in_addr scratch{};
  if (inet_pton(AF_INET, ep.host.c_str(), &scratch) == 1) return;
  if (!is_dns_name(ep.host))
    fail(text, fmt::format("host \"{}\" is not a DNS name to check the certificate against: give sni=NAME", ep.host));
  ep.tls->sni = ep.host;
}

// "[fe80::1%eth0]" or "[fe80::1%2]": the interface of a scoped IPv6 address, as its index
// (what the kernel uses and what the canonical text shows), by name or number alike.
std::uint32_t scope_index(std::string_view text, std::string_view scope) {
  if (scope.empty()) fail(text, "empty IPv6 scope after '%'");
  std::uint32_t index = 0;
  const auto [end, ec] = std::from_chars(scope.data(), scope.data() + scope.size(), index);
  if (ec == std::errc{} && end == scope.data() + scope.size() && index > 0) return index;
  index = if_nametoindex(std::string(scope).c_str());
  if (index == 0) fail(text, fmt::format("unknown network interface \"{}\" in the IPv6 scope", scope));
  return index;
}

// One canonical form per peer: "::ffff:127.0.0.1" is the IPv4 address 127.0.0.1.
void unmap_v4(Endpoint& ep) {
  if (ep.addr.ss_family != AF_INET6) return;
  const auto a6 = reinterpret_cast<const sockaddr_in6&>(ep.addr);
  if (!IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr)) return;
  sockaddr_in a4{};
  a4.sin_family = AF_INET;
  std::memcpy(&a4.sin_addr, a6.sin6_addr.s6_addr + 12, sizeof a4.sin_addr);
  ep.addr = {};
  std::memcpy(&ep.addr, &a4, sizeof a4);
  ep.addr_len = sizeof a4;
}

// Literals never touch the resolver: AI_NUMERICHOST keeps "[::1]" from being looked up by name.
void resolve(std::string_view text, const Parts& p, Endpoint& ep) {
  const std::size_t percent = p.bracketed ? p.host.find('%') : std::string_view::npos;
  const std::string address(p.host.substr(0, percent));
  addrinfo hints{};
  hints.ai_family = p.bracketed ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = ep.transport == Transport::udp ? SOCK_DGRAM : SOCK_STREAM;
  hints.ai_flags = p.bracketed ? AI_NUMERICHOST : 0;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(address.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    const char* what = p.bracketed ? "bad IPv6 address" : "cannot resolve host";
    fail(text, fmt::format("{} \"{}\": {}", what, address, gai_strerror(rc)));
  }
  // The first result is the resolver's preferred one (RFC 6724 order).
  std::memcpy(&ep.addr, res->ai_addr, res->ai_addrlen);
  ep.addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  if (percent != std::string_view::npos)
    reinterpret_cast<sockaddr_in6&>(ep.addr).sin6_scope_id = scope_index(text, p.host.substr(percent + 1));
  unmap_v4(ep);
  ep.set_port(ep.port);
}

}  // namespace

std::string_view to_string(Framing f) noexcept {
  switch (f) {
    case Framing::lp32le: return "lp32le";
    case Framing::lp32be: return "lp32be";
    case Framing::line: return "line";
    case Framing::raw: return "raw";
  }
  return "?";
}

std::string_view to_string(GroupMode m) noexcept {
  switch (m) {
    case GroupMode::hash: return "hash";
    case GroupMode::any: return "any";
    case GroupMode::failover: return "failover";
  }
  return "?";
}

std::string_view to_string(Delivery d) noexcept {
  return d == Delivery::at_most_once ? "at-most-once" : "at-least-once";
}

Framing parse_framing(std::string_view name) {
  for (Framing f : {Framing::lp32le, Framing::lp32be, Framing::line, Framing::raw})
    if (name == to_string(f)) return f;
  throw EndpointError(fmt::format("unknown framing \"{}\" (expected lp32le, lp32be, line or raw)", name));
}

Endpoint parse_endpoint(std::string_view text, bool destination) {
  check_bytes(text);
  // Only before an '@': "failover" alone is no scheme (endpoint_fuzz found it read past the end).
  if (const auto at = text.find('@'); at != std::string_view::npos && publisher_transport(text.substr(0, at))) {
    if (!destination) fail(text, "kafka@, nats@, hash@, any@ and failover@ are destinations, not listeners");
    Endpoint ep = parse_publisher_endpoint(text);
    // Its members resolved, a group's canonical text can outgrow the limit (endpoint_fuzz): it
    // must parse back, so the limit holds for it too.
    if (ep.str().size() > kMaxText) fail(text, fmt::format("its canonical form is longer than {} bytes", kMaxText));
    return ep;
  }
  const Parts p = split(text);
  Endpoint ep;
  ep.transport = p.transport;
  ep.port = parse_port(text, p.port);
  ep.host = std::string(p.host);
  if (!p.options.empty() && !destination && p.transport == Transport::udp) {
    if (p.options != "reuseport=1" && p.options != "reuseport=0")
      fail(text, "a udp@ listener takes one option, reuseport=1 (share the port with other relayd)");
    ep.reuseport = p.options == "reuseport=1";
    resolve(text, p, ep);
    return ep;
  }
  if (!p.options.empty() && !destination && !p.tls)
    fail(text, "options (\"?...\") are not allowed on a listener (except tls@'s and reuseport=1 on udp@)");
  if (p.tls) {
    ep.tls = TlsOptions{};
    ep.delivery = Delivery::at_most_once;
  }
  // A listener may ask the kernel for a port; a peer cannot be reached on port 0.
  if (destination && ep.transport == Transport::tcp && ep.port == 0) fail(text, "port 0 cannot be connected to");
  apply_options(text, p.options, destination, ep);
  resolve(text, p, ep);
  if (destination) default_sni(text, p, ep);
  return ep;
}

void Endpoint::set_port(std::uint16_t p) noexcept {
  port = p;
  if (addr.ss_family == AF_INET)
    reinterpret_cast<sockaddr_in&>(addr).sin_port = htons(p);
  else if (addr.ss_family == AF_INET6)
    reinterpret_cast<sockaddr_in6&>(addr).sin6_port = htons(p);
}

// The numeric address, not the name: it says what the socket really uses, and a listener
// bound to port 0 reports its real port once `addr` is updated from getsockname.
std::string Endpoint::peer() const {
  if (transport != Transport::udp && transport != Transport::tcp) return publisher_endpoint_peer(*this);
  Endpoint plain = *this;
  plain.framing = Framing::lp32le;
  plain.delivery = Delivery::at_least_once;
  if (plain.tls) plain.tls = TlsOptions{};
  return plain.str();
}

std::string Endpoint::str() const {
  if (transport != Transport::udp && transport != Transport::tcp) return publisher_endpoint_str(*this);
  std::array<char, INET6_ADDRSTRLEN> buf{};
  std::string out = transport == Transport::udp ? "udp@" : tls ? "tls@" : "tcp@";
  if (addr.ss_family == AF_INET6) {
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(addr);
    inet_ntop(AF_INET6, &a6.sin6_addr, buf.data(), buf.size());
    out +=
        a6.sin6_scope_id == 0 ? fmt::format("[{}]", buf.data()) : fmt::format("[{}%{}]", buf.data(), a6.sin6_scope_id);
  } else if (addr.ss_family == AF_INET) {
    const auto& a4 = reinterpret_cast<const sockaddr_in&>(addr);
    inet_ntop(AF_INET, &a4.sin_addr, buf.data(), buf.size());
    out += buf.data();
  } else {
    out += host;  // not resolved (a default-constructed Endpoint)
  }
  out += fmt::format(":{}", port);
  std::vector<std::string> shown;
  if (framing != Framing::lp32le) shown.push_back(fmt::format("framing={}", to_string(framing)));
  if (delivery != Delivery::at_least_once && !tls) shown.push_back("delivery=at-most-once");
  if (tls) {
    if (!tls->ca.empty()) shown.push_back("ca=" + tls->ca);
    if (!tls->sni.empty()) shown.push_back("sni=" + tls->sni);
    if (!tls->cert.empty()) shown.push_back("cert=" + tls->cert);
    if (!tls->key.empty()) shown.push_back("key=" + tls->key);
    if (!tls->client_ca.empty()) shown.push_back("client_ca=" + tls->client_ca);
    if (!tls->verify) shown.push_back("verify=0");
  }
  if (reuseport) shown.push_back("reuseport=1");
  if (!shown.empty()) out += fmt::format("?{}", fmt::join(shown, "&"));
  return out;
}

}  // namespace relay
