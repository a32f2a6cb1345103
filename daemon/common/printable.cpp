#include "printable.hpp"

#include <fmt/format.h>

namespace relay {

std::string printable(std::string_view text, std::size_t max_chars) {
  std::string out;
  std::size_t taken = 0;
  for (; taken < text.size() && out.size() < max_chars; ++taken) {
    const auto byte = static_cast<unsigned char>(text[taken]);
    if (byte < 0x20 || byte >= 0x7f)
      out += fmt::format("\\x{:02x}", byte);
    else
      out += text[taken];
  }
  if (taken < text.size()) out += fmt::format("... ({} bytes)", text.size());
  return out;
}

}  // namespace relay
