// nats_publisher: a nats@ destination's Publisher (publisher.hpp). Being written.
#pragma once

#include <memory>

#include "publisher.hpp"

namespace relay {

std::unique_ptr<Publisher> make_nats_publisher(const Endpoint& endpoint);

}  // namespace relay
