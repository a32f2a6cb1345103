// metrics_server: `--metrics HOST:PORT` serves GET /metrics in Prometheus' text format.
//
// prometheus-cpp's Exposer (civetweb) owns the HTTP threads; each scrape takes one
// RelayApi::stats() snapshot, which only reads counters the data path publishes, so a scrape
// never locks or slows the server or client thread. Construct after the signal mask is set
// (its threads inherit it). The address is checked in form by the command line (IPv4:PORT or
// [IPv6]:PORT); throws std::runtime_error naming it when it cannot bind.
#pragma once

#include <memory>
#include <string>

#include "relay_api.hpp"

namespace prometheus {
class Exposer;
}

namespace relay::metrics {

class MetricsServer {
 public:
  MetricsServer(const RelayApi& api, const std::string& address, std::string version);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const;             // the bound port (the kernel's choice for :0)
  std::string address() const;  // HOST:PORT with that port

 private:
  class Collector;
  std::string host_;  // as given: "127.0.0.1" or "[::1]"
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace relay::metrics
