#include "kafka_publisher.hpp"

namespace relay {

std::unique_ptr<Publisher> make_kafka_publisher(const Endpoint&) {
  throw EndpointError("kafka@ destinations are not built yet");
}

}  // namespace relay
