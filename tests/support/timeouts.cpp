#include "timeouts.hpp"

#include <cstdlib>

namespace relay::test {

double timeout_scale() {
  static const double scale = [] {
    if (const char* env = std::getenv("RELAY_TEST_TIMEOUT_SCALE")) {
      const double v = std::strtod(env, nullptr);
      if (v > 0) return v;
    }
    return static_cast<double>(RELAY_TEST_TIMEOUT_SCALE);
  }();
  return scale;
}

std::chrono::milliseconds scaled(std::chrono::milliseconds base) {
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(base.count() * timeout_scale()));
}

}  // namespace relay::test
