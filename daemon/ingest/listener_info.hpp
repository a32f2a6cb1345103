// listener_info: what the outside world may read about one listener (any thread).
#pragma once

#include <string>

#include "counters.hpp"

namespace relay {

struct ListenerInfo {
  std::string address;  // canonical, with the bound port (port 0 resolved)
  int rcvbuf_granted_bytes = 0;
  ListenerValues counters;  // as read when the list was made
};

}  // namespace relay
