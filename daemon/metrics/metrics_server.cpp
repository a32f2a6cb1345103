#include "metrics_server.hpp"

#include <exception>
#include <stdexcept>

#include <fmt/format.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <spdlog/spdlog.h>

#include "metric_families.hpp"

namespace relay::metrics {

// Called on civetweb's threads, one scrape at a time or several at once: stats() is safe from
// any thread and this object holds nothing mutable.
class MetricsServer::Collector final : public prometheus::Collectable {
 public:
  Collector(const RelayApi& api, std::string version) : api_(api), version_(std::move(version)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    try {
      return metric_families(api_.stats(), version_);
    } catch (const std::exception& e) {
      // A scrape must never take relayd down; an empty answer shows up as absent series.
      spdlog::warn("metrics: a scrape failed: {}", e.what());
      return {};
    }
  }

 private:
  const RelayApi& api_;
  const std::string version_;
};

MetricsServer::MetricsServer(const RelayApi& api, const std::string& address, std::string version)
    : host_(address.substr(0, address.rfind(':'))), collector_(std::make_shared<Collector>(api, std::move(version))) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("--metrics {}: cannot listen there (taken, or not a local address): {}", address, e.what()));
  }
  exposer_->RegisterCollectable(collector_);
}

MetricsServer::~MetricsServer() = default;

int MetricsServer::port() const {
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::string MetricsServer::address() const { return fmt::format("{}:{}", host_, port()); }

}  // namespace relay::metrics
