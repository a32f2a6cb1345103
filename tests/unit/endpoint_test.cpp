// endpoint_test: parsing, resolution and canonical text of listener/destination addresses.
#include "endpoint.hpp"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>

#include <string>

namespace relay {
namespace {

using ::testing::HasSubstr;

// The reason text of a parse failure; "" when the text parsed.
std::string error_of(std::string_view text, bool allow_options = true) {
  try {
    parse_endpoint(text, allow_options);
  } catch (const EndpointError& e) {
    return e.what();
  }
  return "";
}

std::uint16_t sockaddr_port(const Endpoint& ep) {
  if (ep.family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ep.addr).sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in&>(ep.addr).sin_port);
}

TEST(Endpoint, ParsesUdpIpv4) {
  const Endpoint ep = parse_endpoint("udp@127.0.0.1:2008");
  EXPECT_EQ(ep.transport, Transport::udp);
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, 2008);
  EXPECT_EQ(ep.family(), AF_INET);
  EXPECT_EQ(ep.addr_len, sizeof(sockaddr_in));
  EXPECT_EQ(sockaddr_port(ep), 2008);
  const auto& a4 = reinterpret_cast<const sockaddr_in&>(ep.addr);
  EXPECT_EQ(ntohl(a4.sin_addr.s_addr), INADDR_LOOPBACK);
  EXPECT_EQ(ep.framing, Framing::lp32le);
  EXPECT_EQ(ep.str(), "udp@127.0.0.1:2008");
}

TEST(Endpoint, ParsesTcpIpv6Bracketed) {
  const Endpoint ep = parse_endpoint("tcp@[::1]:2009");
  EXPECT_EQ(ep.transport, Transport::tcp);
  EXPECT_EQ(ep.host, "::1");  // without brackets
  EXPECT_EQ(ep.port, 2009);
  EXPECT_EQ(ep.family(), AF_INET6);
  EXPECT_EQ(ep.addr_len, sizeof(sockaddr_in6));
  EXPECT_EQ(sockaddr_port(ep), 2009);
  EXPECT_EQ(ep.str(), "tcp@[::1]:2009");
}

TEST(Endpoint, CanonicalIpv6IsCompressed) {
  EXPECT_EQ(parse_endpoint("udp@[0:0:0:0:0:0:0:1]:2008").str(), "udp@[::1]:2008");
  EXPECT_EQ(parse_endpoint("udp@[::]:7").str(), "udp@[::]:7");
}

TEST(Endpoint, AnyAddresses) { EXPECT_EQ(parse_endpoint("udp@0.0.0.0:2008").str(), "udp@0.0.0.0:2008"); }

TEST(Endpoint, ResolvesLocalhost) {
  const Endpoint ep = parse_endpoint("tcp@localhost:2009");
  EXPECT_EQ(ep.host, "localhost");
  ASSERT_TRUE(ep.family() == AF_INET || ep.family() == AF_INET6);
  EXPECT_EQ(sockaddr_port(ep), 2009);
  // The canonical text shows the address the socket will use, not the name.
  EXPECT_TRUE(ep.str() == "tcp@127.0.0.1:2009" || ep.str() == "tcp@[::1]:2009") << ep.str();
}

TEST(Endpoint, PortRange) {
  EXPECT_EQ(parse_endpoint("udp@127.0.0.1:0").port, 0);  // bind picks one
  EXPECT_EQ(parse_endpoint("udp@127.0.0.1:65535").port, 65535);
  EXPECT_EQ(error_of("udp@127.0.0.1:99999"),
            "bad address \"udp@127.0.0.1:99999\": port \"99999\" out of range (0..65535)");
  EXPECT_THAT(error_of("udp@127.0.0.1:65536"), HasSubstr("port \"65536\" out of range"));
  EXPECT_THAT(error_of("udp@127.0.0.1:123456789012345678901234567890"), HasSubstr("out of range"));
}

TEST(Endpoint, BadPorts) {
  for (const char* text : {"udp@127.0.0.1:abc", "udp@127.0.0.1:-1", "udp@127.0.0.1:+1", "udp@127.0.0.1: 80",
                           "udp@127.0.0.1:80x", "udp@127.0.0.1:0x50"})
    EXPECT_THAT(error_of(text), HasSubstr("bad port")) << text;
}

TEST(Endpoint, MissingPort) {
  EXPECT_EQ(error_of("udp@1.2.3.4"), "bad address \"udp@1.2.3.4\": missing port (expected udp@HOST:PORT)");
  EXPECT_THAT(error_of("udp@1.2.3.4:"), HasSubstr("missing port"));
  EXPECT_THAT(error_of("tcp@[::1]"), HasSubstr("missing port"));
  EXPECT_THAT(error_of("tcp@[::1]2009"), HasSubstr("missing port"));
  EXPECT_THAT(error_of("tcp@[::1]:"), HasSubstr("missing port"));
}

TEST(Endpoint, MissingHost) {
  EXPECT_THAT(error_of("udp@:2008"), HasSubstr("missing host"));
  EXPECT_THAT(error_of("tcp@[]:2008"), HasSubstr("missing host"));
}

TEST(Endpoint, TransportErrors) {
  EXPECT_THAT(error_of("sctp@1.2.3.4:1"), HasSubstr("unknown transport \"sctp\""));
  EXPECT_THAT(error_of("UDP@1.2.3.4:1"), HasSubstr("unknown transport \"UDP\""));
  EXPECT_THAT(error_of("@1.2.3.4:1"), HasSubstr("unknown transport \"\""));
  EXPECT_THAT(error_of("1.2.3.4:1"), HasSubstr("missing transport"));
  EXPECT_THAT(error_of(""), HasSubstr("missing transport"));
}

TEST(Endpoint, Ipv6Errors) {
  EXPECT_THAT(error_of("tcp@::1:2009"), HasSubstr("must be bracketed"));
  EXPECT_THAT(error_of("tcp@[::1:2009"), HasSubstr("missing ']'"));
  EXPECT_THAT(error_of("tcp@[1.2.3.4]:1"), HasSubstr("bad IPv6 address \"1.2.3.4\""));
  EXPECT_THAT(error_of("tcp@[zz::1]:1"), HasSubstr("bad IPv6 address"));
  EXPECT_THAT(error_of("tcp@[localhost]:1"), HasSubstr("bad IPv6 address"));  // never resolved
}

TEST(Endpoint, UnresolvableHost) {
  EXPECT_THAT(error_of("tcp@no-such-host.invalid:1"), HasSubstr("cannot resolve host \"no-such-host.invalid\""));
}

TEST(Endpoint, Framing) {
  EXPECT_EQ(parse_endpoint("tcp@127.0.0.1:1?framing=lp32le").framing, Framing::lp32le);
  EXPECT_EQ(parse_endpoint("tcp@127.0.0.1:1?framing=lp32be").framing, Framing::lp32be);
  EXPECT_EQ(parse_endpoint("tcp@127.0.0.1:1?framing=line").framing, Framing::line);
  EXPECT_EQ(parse_endpoint("tcp@[::1]:1?framing=raw").framing, Framing::raw);
}

TEST(Endpoint, CanonicalFraming) {
  EXPECT_EQ(parse_endpoint("tcp@127.0.0.1:2009?framing=lp32le").str(), "tcp@127.0.0.1:2009");
  EXPECT_EQ(parse_endpoint("tcp@127.0.0.1:2009?framing=line").str(), "tcp@127.0.0.1:2009?framing=line");
  EXPECT_EQ(parse_endpoint("tcp@[::1]:2009?framing=lp32be").str(), "tcp@[::1]:2009?framing=lp32be");
}

TEST(Endpoint, CanonicalTextRoundTrips) {
  for (const char* text :
       {"udp@127.0.0.1:2008", "tcp@[::1]:1", "tcp@10.0.0.1:65535?framing=raw", "tcp@[fe80::1]:3?framing=line"}) {
    const Endpoint ep = parse_endpoint(text);
    EXPECT_EQ(ep.str(), text);
    EXPECT_EQ(parse_endpoint(ep.str()).str(), text);
  }
}

TEST(Endpoint, DeliveryIsAtLeastOnceUnlessAskedOrTls) {
  EXPECT_EQ(parse_endpoint("tcp@127.0.0.1:2009").delivery, Delivery::at_least_once);
  EXPECT_EQ(parse_endpoint("tcp@127.0.0.1:2009?delivery=at-least-once").str(), "tcp@127.0.0.1:2009");
  const Endpoint once = parse_endpoint("tcp@127.0.0.1:2009?framing=line&delivery=at-most-once");
  EXPECT_EQ(once.delivery, Delivery::at_most_once);
  EXPECT_EQ(once.str(), "tcp@127.0.0.1:2009?framing=line&delivery=at-most-once");
  EXPECT_EQ(parse_endpoint(once.str()).str(), once.str());
  EXPECT_EQ(parse_endpoint("tls@127.0.0.1:2009").delivery, Delivery::at_most_once);
  EXPECT_EQ(parse_endpoint("tls@127.0.0.1:2009?delivery=at-most-once").str(), "tls@127.0.0.1:2009");
  EXPECT_THAT(error_of("tls@127.0.0.1:2009?delivery=at-least-once"), HasSubstr("tls@ destinations are at-most-once"));
  EXPECT_THAT(error_of("tcp@127.0.0.1:2009?delivery=exactly-once"),
              HasSubstr("unknown delivery \"exactly-once\" (expected at-least-once or at-most-once)"));
  EXPECT_THAT(error_of("tcp@127.0.0.1:2009?delivery=at-most-once&delivery=at-most-once"), HasSubstr("given twice"));
  EXPECT_THROW(parse_endpoint("tcp@127.0.0.1:2009?delivery=at-most-once", false), EndpointError);
}

TEST(Endpoint, OptionErrors) {
  EXPECT_THAT(error_of("tcp@127.0.0.1:1?framing=foo"),
              HasSubstr("unknown framing \"foo\" (expected lp32le, lp32be, line or raw)"));
  EXPECT_THAT(error_of("tcp@127.0.0.1:1?framing="), HasSubstr("unknown framing \"\""));
  EXPECT_THAT(error_of("tcp@127.0.0.1:1?colour=red"), HasSubstr("unknown option \"colour=red\""));
  EXPECT_THAT(error_of("tcp@127.0.0.1:1?framing"), HasSubstr("unknown option \"framing\""));
  EXPECT_THAT(error_of("udp@127.0.0.1:1?framing=line"), HasSubstr("only to tcp"));
}

TEST(Endpoint, ListenersTakeNoOptions) {
  EXPECT_THAT(error_of("tcp@127.0.0.1:1?framing=line", false), HasSubstr("not allowed on a listener"));
  EXPECT_NO_THROW(parse_endpoint("tcp@127.0.0.1:1", false));
  EXPECT_NO_THROW(parse_endpoint("udp@[::1]:1", false));
}

TEST(Endpoint, ErrorsNameTheWholeAddress) {
  EXPECT_THAT(error_of("tcp@127.0.0.1:1?framing=foo"), HasSubstr("bad address \"tcp@127.0.0.1:1?framing=foo\""));
}

// Issue #9 item 6: one canonical form per peer, and nothing invalid accepted.
TEST(Endpoint, DestinationsRefusePortZeroListenersAskTheKernelForOne) {
  EXPECT_THAT(error_of("tcp@127.0.0.1:0"), HasSubstr("port 0 cannot be connected to"));
  EXPECT_EQ(error_of("tcp@127.0.0.1:0", false), "");
  EXPECT_EQ(error_of("udp@127.0.0.1:0", false), "");
}

TEST(Endpoint, V4MappedIpv6IsTheIpv4Address) {
  const Endpoint mapped = parse_endpoint("tcp@[::ffff:127.0.0.1]:9000");
  EXPECT_EQ(mapped.family(), AF_INET);
  EXPECT_EQ(mapped.addr_len, sizeof(sockaddr_in));
  EXPECT_EQ(sockaddr_port(mapped), 9000);
  EXPECT_EQ(mapped.str(), parse_endpoint("tcp@127.0.0.1:9000").str());
}

TEST(Endpoint, ControlCharactersAreRefusedAndEscapedInTheError) {
  const std::string nul("tcp@127.0.0.1\0evil:9000", 24);
  EXPECT_THAT(error_of(nul), HasSubstr("control character 0x00"));
  const std::string forged = error_of("tcp@127.0.0.1:9000\n2026-01-01 info destination added");
  EXPECT_THAT(forged, HasSubstr("control character 0x0a"));
  EXPECT_EQ(forged.find('\n'), std::string::npos) << "a newline reached the error text: " << forged;
  EXPECT_EQ(error_of("tcp@\x1b[31mred:9000").find('\x1b'), std::string::npos);
}

TEST(Endpoint, LongAddressesAreRefusedWithoutEchoingThemWhole) {
  const std::string huge = "tcp@" + std::string(4000, 'a') + ":9000";
  const std::string e = error_of(huge);
  EXPECT_THAT(e, HasSubstr("longer than 512 bytes"));
  EXPECT_THAT(e, HasSubstr("(4009 bytes)"));
  EXPECT_LT(e.size(), 400u) << "the error repeats the whole address";
  // Found by endpoint_fuzz: escaped bytes are four characters each, so the cut counts output.
  const std::string escaped = error_of("tcp@[::]:7?framing=" + std::string(400, '\xd2'));
  EXPECT_LT(escaped.size(), 500u) << escaped.size() << " characters";
}

TEST(Endpoint, ScopedIpv6ByInterfaceNameOrIndexIsOneCanonicalAddress) {
  const unsigned lo = if_nametoindex("lo");
  ASSERT_NE(lo, 0u) << "no loopback interface";
  const std::string expected = "tcp@[::1%" + std::to_string(lo) + "]:9000";
  EXPECT_EQ(parse_endpoint("tcp@[::1%lo]:9000").str(), expected);
  EXPECT_EQ(parse_endpoint("tcp@[::1%" + std::to_string(lo) + "]:9000").str(), expected);
  EXPECT_THAT(error_of("tcp@[::1%nosuchif0]:9000"), HasSubstr("unknown network interface"));
  EXPECT_THAT(error_of("tcp@[::1%]:9000"), HasSubstr("empty IPv6 scope"));
}

TEST(TlsEndpoint, DefaultsVerifyAgainstTheSystemStoreAndTheAddress) {
  const Endpoint ep = parse_endpoint("tls@127.0.0.1:9000");
  EXPECT_EQ(ep.transport, Transport::tcp);  // a tcp destination, spoken to over TLS
  ASSERT_TRUE(ep.tls);
  EXPECT_EQ(*ep.tls, TlsOptions{});
  EXPECT_TRUE(ep.tls->verify);
  EXPECT_EQ(ep.str(), "tls@127.0.0.1:9000");
  EXPECT_FALSE(parse_endpoint("tcp@127.0.0.1:9000").tls);
}

TEST(TlsEndpoint, CanonicalTextKeepsEveryOptionInOneOrder) {
  const Endpoint ep =
      parse_endpoint("tls@127.0.0.1:9000?verify=0&key=/k.pem&cert=/c.pem&sni=relay.example&ca=/ca.pem&framing=line");
  ASSERT_TRUE(ep.tls);
  EXPECT_EQ(ep.tls->ca, "/ca.pem");
  EXPECT_EQ(ep.tls->sni, "relay.example");
  EXPECT_EQ(ep.tls->cert, "/c.pem");
  EXPECT_EQ(ep.tls->key, "/k.pem");
  EXPECT_FALSE(ep.tls->verify);
  EXPECT_EQ(ep.framing, Framing::line);
  const std::string canonical =
      "tls@127.0.0.1:9000?framing=line&ca=/ca.pem&sni=relay.example&cert=/c.pem&key=/k.pem&verify=0";
  EXPECT_EQ(ep.str(), canonical);
  EXPECT_EQ(parse_endpoint(canonical).str(), canonical);
  EXPECT_EQ(parse_endpoint("tls@127.0.0.1:9000?verify=1").str(), "tls@127.0.0.1:9000");
}

TEST(TlsEndpoint, OptionsMakeADifferentAddressFromPlainTcp) {
  EXPECT_NE(parse_endpoint("tls@127.0.0.1:1?ca=/a").str(), parse_endpoint("tcp@127.0.0.1:1").str());
  EXPECT_NE(parse_endpoint("tls@127.0.0.1:1?ca=/a").str(), parse_endpoint("tls@127.0.0.1:1?ca=/b").str());
  EXPECT_NE(parse_endpoint("tls@127.0.0.1:1").str(), parse_endpoint("tcp@127.0.0.1:1").str());
}

// The name is kept in the canonical text: re-parsing the numeric address must check the same name.
TEST(TlsEndpoint, AHostNameIsTheDefaultSni) {
  const Endpoint ep = parse_endpoint("tls@localhost:9000");
  ASSERT_TRUE(ep.tls);
  EXPECT_EQ(ep.tls->sni, "localhost");
  EXPECT_THAT(ep.str(), ::testing::EndsWith(":9000?sni=localhost"));
  EXPECT_EQ(parse_endpoint(ep.str()).tls->sni, "localhost");
  EXPECT_EQ(parse_endpoint("tls@localhost:9000?sni=other.example").tls->sni, "other.example");
  EXPECT_EQ(parse_endpoint("tls@[::1]:9000").tls->sni, "");
}

TEST(TlsEndpoint, BadOptionsAreRefusedNamingThem) {
  EXPECT_THAT(error_of("tls@127.0.0.1:1?ca=relative.pem"),
              HasSubstr("ca= needs an absolute path, not \"relative.pem\""));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=c.pem&key=/k"), HasSubstr("cert= needs an absolute path"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=/c.pem"), HasSubstr("needs both cert= and key="));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?key=/k.pem"), HasSubstr("needs both cert= and key="));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?verify=yes"), HasSubstr("expected verify=0 or verify=1"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?sni=1.2.3.4"), HasSubstr("is not a DNS name"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?sni=a_b"), HasSubstr("is not a DNS name"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?ca="), HasSubstr("option \"ca\" has no value"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?ca=/a&ca=/b"), HasSubstr("option \"ca\" given twice"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?colour=blue"),
              HasSubstr("unknown option \"colour=blue\" (expected framing=F, ca="));
  EXPECT_THAT(error_of("tcp@127.0.0.1:1?ca=/a"), HasSubstr("option \"ca\" applies only to tls@ destinations"));
  EXPECT_THAT(error_of("tls@127.0.0.1:0"), HasSubstr("port 0"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?client_ca=/a"),
              HasSubstr("option \"client_ca\" applies only to tls@ listeners"));
  EXPECT_THAT(error_of("tcp@127.0.0.1:1?client_ca=/a"),
              HasSubstr("option \"client_ca\" applies only to tls@ listeners"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?ca=/a\x01"), HasSubstr("control character"));
  EXPECT_THAT(error_of("ftp@127.0.0.1:1"), HasSubstr("expected udp, tcp, tls, kafka, nats, hash, any or failover"));
}

// A tls@ listener: its certificate and key, optionally a CA its clients' certificates must be
// signed by; the canonical text parses back to the same listener.
TEST(TlsListenerEndpoint, TakesCertKeyAndClientCa) {
  const Endpoint ep = parse_endpoint("tls@127.0.0.1:0?client_ca=/ca.pem&key=/k.pem&cert=/c.pem", false);
  EXPECT_EQ(ep.transport, Transport::tcp);
  ASSERT_TRUE(ep.tls);
  EXPECT_EQ(ep.tls->cert, "/c.pem");
  EXPECT_EQ(ep.tls->key, "/k.pem");
  EXPECT_EQ(ep.tls->client_ca, "/ca.pem");
  EXPECT_EQ(ep.port, 0);  // a listener may ask the kernel for a port
  const std::string canonical = "tls@127.0.0.1:0?cert=/c.pem&key=/k.pem&client_ca=/ca.pem";
  EXPECT_EQ(ep.str(), canonical);
  EXPECT_EQ(parse_endpoint(canonical, false).str(), canonical);
  EXPECT_EQ(*parse_endpoint(canonical, false).tls, *ep.tls);
  EXPECT_EQ(parse_endpoint("tls@127.0.0.1:1?cert=/c.pem&key=/k.pem", false).str(),
            "tls@127.0.0.1:1?cert=/c.pem&key=/k.pem");
}

// No default name check on a listener: its HOST is where it binds, not a peer's name.
TEST(TlsListenerEndpoint, AHostNameSetsNoSni) {
  const Endpoint ep = parse_endpoint("tls@localhost:1?cert=/c.pem&key=/k.pem", false);
  ASSERT_TRUE(ep.tls);
  EXPECT_EQ(ep.tls->sni, "");
  EXPECT_EQ(parse_endpoint(ep.str(), false).str(), ep.str());
}

TEST(TlsListenerEndpoint, BadOptionsAreRefusedNamingThem) {
  EXPECT_THAT(error_of("tls@127.0.0.1:1", false), HasSubstr("a tls@ listener needs cert= and key="));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=/c.pem", false), HasSubstr("a tls@ listener needs cert= and key="));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?key=/k.pem&client_ca=/ca.pem", false),
              HasSubstr("a tls@ listener needs cert= and key="));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=c.pem&key=/k.pem", false), HasSubstr("cert= needs an absolute path"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=/c&key=/k&client_ca=ca.pem", false),
              HasSubstr("client_ca= needs an absolute path, not \"ca.pem\""));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=/c&key=/k&client_ca=", false),
              HasSubstr("option \"client_ca\" has no value"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=/c&key=/k&cert=/d", false), HasSubstr("option \"cert\" given twice"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=/c&key=/k&ca=/ca.pem", false),
              HasSubstr("option \"ca\" applies only to tls@ destinations"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=/c&key=/k&sni=a.example", false),
              HasSubstr("option \"sni\" applies only to tls@ destinations"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=/c&key=/k&verify=0", false),
              HasSubstr("option \"verify\" applies only to tls@ destinations"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=/c&key=/k&framing=line", false),
              HasSubstr("framing= applies to destinations only"));
  EXPECT_THAT(error_of("tls@127.0.0.1:1?cert=/c&key=/k&colour=blue", false),
              HasSubstr("unknown option \"colour=blue\" (expected cert=/PATH, key=/PATH or client_ca=/PATH)"));
  EXPECT_THAT(error_of("tcp@127.0.0.1:1?cert=/c&key=/k", false), HasSubstr("not allowed on a listener"));
  EXPECT_THAT(error_of("udp@127.0.0.1:1?cert=/c&key=/k", false), HasSubstr("takes one option, reuseport=1"));
}

// Issue #13: several relayd share one UDP port (SO_REUSEPORT).
TEST(UdpListenerEndpoint, ReuseportIsTheOneOptionAndKeptInTheCanonicalText) {
  const Endpoint ep = parse_endpoint("udp@127.0.0.1:2008?reuseport=1", false);
  EXPECT_TRUE(ep.reuseport);
  EXPECT_EQ(ep.str(), "udp@127.0.0.1:2008?reuseport=1");
  EXPECT_EQ(parse_endpoint(ep.str(), false).str(), ep.str());
  EXPECT_FALSE(parse_endpoint("udp@127.0.0.1:2008?reuseport=0", false).reuseport);
  EXPECT_EQ(parse_endpoint("udp@127.0.0.1:2008?reuseport=0", false).str(), "udp@127.0.0.1:2008");
  EXPECT_FALSE(parse_endpoint("udp@127.0.0.1:2008", false).reuseport);
  EXPECT_THAT(error_of("udp@127.0.0.1:1?reuseport=2", false), HasSubstr("takes one option, reuseport=1"));
  EXPECT_THAT(error_of("udp@127.0.0.1:1?reuseport=1&reuseport=1", false), HasSubstr("takes one option"));
  EXPECT_THAT(error_of("tcp@127.0.0.1:1?reuseport=1", false), HasSubstr("not allowed on a listener"));
  EXPECT_THAT(error_of("tcp@127.0.0.1:1?reuseport=1"), HasSubstr("unknown option"));
}

TEST(PublisherEndpoint, KafkaAndNatsKeepServersTopicAndOptions) {
  const Endpoint k = parse_endpoint("kafka@127.0.0.1:9092,broker2:9093/metrics.raw?key=field&compression=lz4");
  EXPECT_EQ(k.transport, Transport::kafka);
  EXPECT_EQ(k.servers, (std::vector<std::string>{"127.0.0.1:9092", "broker2:9093"}));
  EXPECT_EQ(k.topic, "metrics.raw");
  ASSERT_EQ(k.options.size(), 2u);
  EXPECT_EQ(k.options[1], (std::pair<std::string, std::string>{"compression", "lz4"}));
  EXPECT_EQ(k.str(), "kafka@127.0.0.1:9092,broker2:9093/metrics.raw?key=field&compression=lz4");
  EXPECT_EQ(k.peer(), "kafka@127.0.0.1:9092,broker2:9093/metrics.raw");
  EXPECT_EQ(parse_endpoint(k.str()).str(), k.str());
  const Endpoint n = parse_endpoint("nats@[::1]:4222/events");
  EXPECT_EQ(n.transport, Transport::nats);
  EXPECT_EQ(n.str(), "nats@[::1]:4222/events");
}

TEST(PublisherEndpoint, BadOnesAreRefusedNamingThePart) {
  EXPECT_THAT(error_of("kafka@127.0.0.1:9092"), HasSubstr("missing /topic"));
  EXPECT_THAT(error_of("failover"), HasSubstr("missing transport"));  // endpoint_fuzz's find
  EXPECT_THAT(error_of("hash@"), HasSubstr("no servers"));
  // "1:1" is 0.0.0.1:1 once resolved: 60 such members fit in 512 bytes as written, not as shown.
  std::string many = "hash@";
  for (int i = 1; i <= 60; ++i) many.append(i > 1 ? "," : "").append(std::to_string(i)).append(":1");
  EXPECT_THAT(error_of(many), HasSubstr("canonical form is longer than 512 bytes"));
  EXPECT_THAT(error_of("kafka@127.0.0.1:9092/"), HasSubstr("no topic after '/'"));
  EXPECT_THAT(error_of("kafka@127.0.0.1/t"), HasSubstr("server \"127.0.0.1\" is not HOST:PORT"));
  EXPECT_THAT(error_of("kafka@h:1,h:1/t"), HasSubstr("given twice"));
  EXPECT_THAT(error_of("nats@h:4222/a.*"), HasSubstr("only letters, digits"));
  EXPECT_THAT(error_of("nats@h:4222/a..b"), HasSubstr("no empty tokens"));
  EXPECT_THAT(error_of("kafka@h:1/t?key"), HasSubstr("not KEY=VALUE"));
  EXPECT_THAT(error_of("kafka@h:1/t?a=1&a=2"), HasSubstr("option \"a\" given twice"));
  EXPECT_THAT(error_of("kafka@h:1/t", false), HasSubstr("are destinations, not listeners"));
  EXPECT_THAT(error_of("hash@127.0.0.1:1,[::ffff:127.0.0.1]:1"), HasSubstr("member tcp@127.0.0.1:1 given twice"));
  EXPECT_THAT(error_of("hash@127.0.0.1:1,127.0.0.1:1"), HasSubstr("server \"127.0.0.1:1\" given twice"));
  EXPECT_THAT(error_of("any@127.0.0.1:1?framing=json"), HasSubstr("unknown framing"));
}

TEST(PublisherEndpoint, GroupsResolveTheirMembersWhichShareTheFraming) {
  const Endpoint g = parse_endpoint("hash@127.0.0.1:2003,localhost:2004?framing=line&key=field&replicas=2");
  EXPECT_EQ(g.transport, Transport::group);
  EXPECT_EQ(g.group, GroupMode::hash);
  ASSERT_EQ(g.members.size(), 2u);
  EXPECT_EQ(g.members[0].str(), "tcp@127.0.0.1:2003?framing=line");
  EXPECT_EQ(g.members[1].framing, Framing::line);
  EXPECT_EQ(g.str(), "hash@127.0.0.1:2003," + g.members[1].str().substr(4, g.members[1].str().find('?') - 4) +
                         "?framing=line&key=field&replicas=2");
  EXPECT_EQ(parse_endpoint(g.str()).str(), g.str());
  EXPECT_EQ(parse_endpoint("failover@127.0.0.1:1,127.0.0.1:2").group, GroupMode::failover);
  EXPECT_EQ(parse_endpoint("any@127.0.0.1:1").str(), "any@127.0.0.1:1");
  // The peer ignores how: the same members with another framing are the same group.
  EXPECT_EQ(parse_endpoint("any@127.0.0.1:1?framing=raw").peer(), parse_endpoint("any@127.0.0.1:1").peer());
}

TEST(Framing, NamesRoundTrip) {
  for (Framing f : {Framing::lp32le, Framing::lp32be, Framing::line, Framing::raw})
    EXPECT_EQ(parse_framing(to_string(f)), f);
  EXPECT_EQ(to_string(Framing::lp32le), "lp32le");
  EXPECT_EQ(to_string(Framing::line), "line");
}

TEST(Framing, UnknownNameThrows) {
  try {
    parse_framing("LINE");  // names are case-sensitive, as written in the docs
    FAIL() << "no exception";
  } catch (const EndpointError& e) {
    EXPECT_STREQ(e.what(), "unknown framing \"LINE\" (expected lp32le, lp32be, line or raw)");
  }
}

}  // namespace
}  // namespace relay
