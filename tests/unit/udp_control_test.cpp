// read_udp_control: the drop count and GRO segment size from a datagram's control messages.
#include "udp_control.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace relay {
namespace {

// Room for two int-sized control messages, filled by hand as the kernel would.
struct alignas(cmsghdr) Control {
  unsigned char bytes[2 * CMSG_SPACE(sizeof(int))] = {};
  msghdr h{};
  Control() {
    h.msg_control = bytes;
    h.msg_controllen = sizeof bytes;
  }
  cmsghdr* put(cmsghdr* c, int level, int type, std::uint32_t value) {
    c->cmsg_level = level;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(sizeof value);
    std::memcpy(CMSG_DATA(c), &value, sizeof value);
    return c;
  }
};

TEST(UdpControl, ReadsTheDropCountAndTheSegmentSize) {
  Control c;
  cmsghdr* first = c.put(CMSG_FIRSTHDR(&c.h), SOL_SOCKET, SO_RXQ_OVFL, 7);
  c.put(CMSG_NXTHDR(&c.h, first), IPPROTO_UDP, UDP_GRO, 1200);
  const UdpControl got = read_udp_control(c.h);
  EXPECT_EQ(got.drops, 7u);
  EXPECT_EQ(got.segment, 1200u);
}

TEST(UdpControl, NoControlMeansOneDatagramAndNoDropCount) {
  msghdr h{};
  const UdpControl got = read_udp_control(h);
  EXPECT_EQ(got.segment, 0u);
  EXPECT_FALSE(got.drops);
}

TEST(UdpControl, ANegativeSegmentSizeMeansOneDatagram) {
  Control c;
  c.put(CMSG_FIRSTHDR(&c.h), IPPROTO_UDP, UDP_GRO, static_cast<std::uint32_t>(-5));
  EXPECT_EQ(read_udp_control(c.h).segment, 0u);
}

// udp_gro_fuzz found it: a message whose cmsg_len covers only its header was read 4 bytes past
// its end (past the buffer when it ends there). Such a message carries no value.
TEST(UdpControl, AMessageTooShortForItsValueIsIgnored) {
  Control c;
  cmsghdr* first = c.put(CMSG_FIRSTHDR(&c.h), SOL_SOCKET, SO_RXQ_OVFL, 99);  // 99: what lies past its end
  first->cmsg_len = CMSG_LEN(0);
  c.h.msg_controllen = CMSG_LEN(0) + sizeof(std::uint32_t);  // the value's bytes are outside the message
  EXPECT_FALSE(read_udp_control(c.h).drops);
  first->cmsg_type = UDP_GRO, first->cmsg_level = IPPROTO_UDP;
  EXPECT_EQ(read_udp_control(c.h).segment, 0u);
}

TEST(UdpControl, AMessageCutByTheBufferEndIsIgnored) {
  Control c;
  c.put(CMSG_FIRSTHDR(&c.h), SOL_SOCKET, SO_RXQ_OVFL, 99);  // cmsg_len claims the value
  c.h.msg_controllen = CMSG_LEN(0) + 2;                     // but the buffer ends half-way into it
  EXPECT_FALSE(read_udp_control(c.h).drops);
}

}  // namespace
}  // namespace relay
