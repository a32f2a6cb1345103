// make_publisher and check_publisher (publisher.hpp): the publisher an endpoint's transport names.
#include "group_publisher.hpp"
#include "kafka_publisher.hpp"
#include "nats_publisher.hpp"
#include "publisher.hpp"

namespace relay {

std::unique_ptr<Publisher> make_publisher(const Endpoint& endpoint) {
  switch (endpoint.transport) {
    case Transport::kafka: return make_kafka_publisher(endpoint);
    case Transport::nats: return make_nats_publisher(endpoint);
    case Transport::group: return make_group_publisher(endpoint);
    case Transport::udp:
    case Transport::tcp: break;
  }
  return nullptr;
}

void check_publisher(const Endpoint& endpoint) {
  switch (endpoint.transport) {
    case Transport::kafka: return check_kafka_publisher(endpoint);
    case Transport::nats: return check_nats_publisher(endpoint);
    case Transport::group: return check_group_publisher(endpoint);
    case Transport::udp:
    case Transport::tcp: return;
  }
}

}  // namespace relay
