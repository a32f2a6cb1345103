// kafka_publisher: a kafka@ destination's Publisher (publisher.hpp). Being written.
#pragma once

#include <memory>

#include "publisher.hpp"

namespace relay {

std::unique_ptr<Publisher> make_kafka_publisher(const Endpoint& endpoint);

}  // namespace relay
