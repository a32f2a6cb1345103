// printable: what a log line or an error message may repeat of outside input (addresses, peer
// names, identities): control and non-ASCII bytes escaped as \xNN (no forged log lines, no
// terminal escapes), cut to `max_chars` of output with the original length said, so a huge input
// cannot make a huge line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace relay {

std::string printable(std::string_view text, std::size_t max_chars = 160);

}  // namespace relay
