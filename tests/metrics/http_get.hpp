// http_get: one plain HTTP/1.0 GET on 127.0.0.1, for the tests that scrape relayd's /metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace relay::test {

struct HttpResponse {
  int status = 0;
  std::string headers;  // the status line and headers, as received
  std::string body;
};

// GET `path` from 127.0.0.1:port, reading until the server closes; nullopt (and a recorded
// failure) on a connect error, a malformed response or when `timeout` (scaled) passes.
std::optional<HttpResponse> http_get(std::uint16_t port, const std::string& path,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace relay::test
