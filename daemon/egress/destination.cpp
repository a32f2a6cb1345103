// make_destination (destination.hpp): the kind the endpoint names.
#include "destination.hpp"

#include "publish_destination.hpp"
#include "tcp_destination.hpp"

namespace relay {

std::unique_ptr<Destination> make_destination(struct ev_loop* loop, Queue& queue,
                                              std::shared_ptr<DestinationShared> shared, StartAt start,
                                              const DestinationConfig& cfg, std::unique_ptr<Publisher> publisher,
                                              std::optional<std::uint64_t> resume) {
  if (publisher)
    return std::make_unique<PublishDestination>(loop, queue, std::move(shared), start, cfg, std::move(publisher),
                                                resume);
  return std::make_unique<TcpDestination>(loop, queue, std::move(shared), start, cfg, resume);
}

}  // namespace relay
