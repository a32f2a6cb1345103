// ingest_config: how the server thread's listeners receive (from the command line).
#pragma once

#include <cstdint>

namespace relay {

struct IngestConfig {
  std::uint32_t max_message = 65507;  // --max-message-size (bytes of payload)
  int rcvbuf = 32 << 20;              // --rcvbuf: requested SO_RCVBUF (bytes)
  unsigned batch = 256;               // datagrams per recvmmsg
  double coalesce_seconds = 0;        // --coalesce-us: longest wait between polls when busy (ingest_pacer)
  bool udp_gro = false;               // --udp-gro: let the kernel hand over coalesced datagram trains
  unsigned max_connections = 1024;    // --max-connections: open TCP ingest connections per listener
  double idle_timeout = 300;          // --ingest-idle-timeout: s a TCP ingest connection may send nothing; 0: never
};

}  // namespace relay
