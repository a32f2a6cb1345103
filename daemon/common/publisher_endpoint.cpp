#include "publisher_endpoint.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "printable.hpp"

namespace relay {
namespace {

constexpr std::size_t kMaxServers = 64;
constexpr std::size_t kMaxTopic = 249;  // Kafka's limit; NATS subjects are kept to it too

[[noreturn]] void fail(std::string_view text, std::string_view why) {
  throw EndpointError(fmt::format("bad address \"{}\": {}", printable(text), printable(why)));
}

std::vector<std::string_view> split_on(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

std::string_view scheme_of(std::string_view text) { return text.substr(0, text.find('@')); }

// "HOST:PORT" or "[V6]:PORT", as a library takes it; the port 1..65535.
void check_server(std::string_view text, std::string_view server) {
  const auto colon = server.rfind(':');
  const std::string_view host = colon == std::string_view::npos ? std::string_view{} : server.substr(0, colon);
  const std::string_view port = colon == std::string_view::npos ? std::string_view{} : server.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || port.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 ||
      value > 65535)
    fail(text, fmt::format("server \"{}\" is not HOST:PORT (port 1..65535)", server));
  const bool bracketed = host.starts_with('[') && host.ends_with(']');
  if (!bracketed && host.find(':') != std::string_view::npos)
    fail(text, fmt::format("IPv6 address in \"{}\" must be bracketed, e.g. [::1]:PORT", server));
}

std::vector<std::string> parse_servers(std::string_view text, std::string_view list) {
  if (list.empty()) fail(text, "no servers (expected HOST:PORT[,HOST:PORT...])");
  std::vector<std::string> out;
  for (const auto s : split_on(list, ',')) {
    check_server(text, s);
    if (std::ranges::find(out, s) != out.end()) fail(text, fmt::format("server \"{}\" given twice", s));
    out.emplace_back(s);
  }
  if (out.size() > kMaxServers) fail(text, fmt::format("more than {} servers", kMaxServers));
  return out;
}

// Kafka topics are [A-Za-z0-9._-]; a NATS subject adds nothing a publisher may use (no
// wildcards, no spaces), so one rule serves both.
void check_topic(std::string_view text, std::string_view topic, std::string_view what) {
  if (topic.empty()) fail(text, fmt::format("no {} after '/'", what));
  if (topic.size() > kMaxTopic) fail(text, fmt::format("{} longer than {} bytes", what, kMaxTopic));
  const bool ok = std::ranges::all_of(topic, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
  if (!ok || topic.starts_with('.') || topic.ends_with('.') || topic.find("..") != std::string_view::npos)
    fail(text, fmt::format("{} \"{}\": only letters, digits, '.', '_' and '-' (no empty tokens)", what, topic));
}

std::vector<std::pair<std::string, std::string>> parse_options(std::string_view text, std::string_view options) {
  std::vector<std::pair<std::string, std::string>> out;
  if (options.empty()) return out;
  for (const auto opt : split_on(options, '&')) {
    const auto eq = opt.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == opt.size())
      fail(text, fmt::format("option \"{}\" is not KEY=VALUE", opt));
    const std::string key(opt.substr(0, eq));
    if (std::ranges::any_of(out, [&](const auto& kv) { return kv.first == key; }))
      fail(text, fmt::format("option \"{}\" given twice", key));
    out.emplace_back(key, std::string(opt.substr(eq + 1)));
  }
  return out;
}

GroupMode group_mode(std::string_view scheme) {
  if (scheme == "any") return GroupMode::any;
  if (scheme == "failover") return GroupMode::failover;
  return GroupMode::hash;
}

// framing= belongs to every member: taken out of the options and given to each.
void parse_members(std::string_view text, std::string_view list, Endpoint& ep) {
  const auto framing = std::ranges::find_if(ep.options, [](const auto& kv) { return kv.first == "framing"; });
  if (framing != ep.options.end()) {
    try {
      ep.framing = parse_framing(framing->second);
    } catch (const EndpointError& e) {
      fail(text, e.what());
    }
    ep.options.erase(framing);
  }
  for (const auto& server : parse_servers(text, list)) {
    Endpoint member;
    try {
      member = parse_endpoint("tcp@" + server, true);
    } catch (const EndpointError& e) {
      fail(text, fmt::format("member {}: {}", server, e.what()));
    }
    member.framing = ep.framing;
    if (std::ranges::any_of(ep.members, [&](const Endpoint& m) { return m.str() == member.str(); }))
      fail(text, fmt::format("member {} given twice", member.str()));
    ep.members.push_back(std::move(member));
  }
}

std::string options_text(const Endpoint& ep) {
  std::vector<std::string> parts;
  if (ep.transport == Transport::group && ep.framing != Framing::lp32le)
    parts.push_back(fmt::format("framing={}", to_string(ep.framing)));
  for (const auto& [k, v] : ep.options) parts.push_back(k + "=" + v);
  return parts.empty() ? std::string{} : fmt::format("?{}", fmt::join(parts, "&"));
}

}  // namespace

std::optional<Transport> publisher_transport(std::string_view scheme) noexcept {
  if (scheme == "kafka") return Transport::kafka;
  if (scheme == "nats") return Transport::nats;
  if (scheme == "hash" || scheme == "any" || scheme == "failover") return Transport::group;
  return std::nullopt;
}

Endpoint parse_publisher_endpoint(std::string_view text) {
  const std::string_view scheme = scheme_of(text);
  Endpoint ep;
  ep.transport = *publisher_transport(scheme);
  std::string_view body = text.substr(scheme.size() + 1);
  const auto q = body.find('?');
  ep.options = parse_options(text, q == std::string_view::npos ? std::string_view{} : body.substr(q + 1));
  body = body.substr(0, q);
  if (ep.transport == Transport::group) {
    ep.group = group_mode(scheme);
    ep.host = scheme;
    parse_members(text, body, ep);
    return ep;
  }
  const auto slash = body.find('/');
  const std::string_view what = ep.transport == Transport::kafka ? "topic" : "subject";
  if (slash == std::string_view::npos)
    fail(text, fmt::format("missing /{} (expected {}@HOST:PORT[,HOST:PORT...]/{})", what, scheme,
                           ep.transport == Transport::kafka ? "TOPIC" : "SUBJECT"));
  ep.servers = parse_servers(text, body.substr(0, slash));
  ep.topic = std::string(body.substr(slash + 1));
  check_topic(text, ep.topic, what);
  ep.host = ep.servers.front();
  return ep;
}

std::string publisher_endpoint_peer(const Endpoint& ep) {
  if (ep.transport != Transport::group)
    return fmt::format("{}@{}/{}", ep.transport == Transport::kafka ? "kafka" : "nats", fmt::join(ep.servers, ","),
                       ep.topic);
  std::vector<std::string> members;
  for (const auto& m : ep.members) members.push_back(m.str().substr(4));  // without "tcp@" and options
  for (auto& m : members) m = m.substr(0, m.find('?'));
  return fmt::format("{}@{}", to_string(ep.group), fmt::join(members, ","));
}

std::string publisher_endpoint_str(const Endpoint& ep) { return publisher_endpoint_peer(ep) + options_text(ep); }

}  // namespace relay
