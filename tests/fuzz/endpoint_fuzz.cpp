// endpoint_fuzz: parse_endpoint on arbitrary text, as a listener and as a destination. It must
// never crash or hang; what it accepts must have a canonical text that parses back to itself;
// what it refuses it must explain in one short line of printable text (it is logged and echoed
// to control clients). Host names are skipped: resolving them would query DNS.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "endpoint.hpp"

namespace {

// True when the host part is a bracketed IPv6 literal or digits and dots: no resolver involved.
bool numeric_host(std::string_view text) {
  const auto at = text.find('@');
  if (at == std::string_view::npos) return true;  // refused before any lookup
  std::string_view rest = text.substr(at + 1);
  if (rest.starts_with('[')) return true;
  rest = rest.substr(0, rest.find('?'));
  rest = rest.substr(0, rest.rfind(':'));
  return rest.find_first_not_of("0123456789.") == std::string_view::npos;
}

void check_error(const std::string& what) {
  if (what.size() > 1024) std::abort();  // an echo of the input, not an explanation
  for (const char c : what) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) std::abort();  // would forge or break a log line
  }
}

void parse_as(std::string_view text, bool destination) {
  relay::Endpoint ep;
  try {
    ep = relay::parse_endpoint(text, destination);
  } catch (const relay::EndpointError& e) {
    return check_error(e.what());
  }
  const std::string canonical = ep.str();
  const relay::Endpoint again = relay::parse_endpoint(canonical, destination);  // must not throw
  if (again.str() != canonical) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!numeric_host(text)) return 0;
  parse_as(text, false);
  parse_as(text, true);
  return 0;
}
