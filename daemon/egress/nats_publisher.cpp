#include "nats_publisher.hpp"

#include <spdlog/spdlog.h>
#include <optional>

#include <thread>

#include "clock.hpp"
#include "nats_bridge.hpp"
#include "nats_session.hpp"
#include "nats_settings.hpp"

namespace relay {
namespace {

class NatsPublisher final : public Publisher {
 public:
  explicit NatsPublisher(NatsSettings settings)
      : settings_(std::move(settings)),
        bridge_(std::make_shared<NatsBridge>(settings_.max_in_flight, settings_.ack_timeout_ms)) {}

  ~NatsPublisher() override {
    bridge_->detach();
    if (!session_.joinable()) return;
    bridge_->stopping.store(true, std::memory_order_release);  // release: pairs with the session's acquire
    bridge_->bump_work();
    retire_nats_session(std::move(session_), bridge_);  // Close waits: not on this thread
  }

  void start(struct ev_loop*, PublishEvents& events, DestinationShared& shared) override {
    events_ = &events;
    shared_ = &shared;
    bridge_->attach(&events);
    events.connection(DestinationState::connecting, {});
    session_ = start_nats_session(bridge_, settings_);
  }

  bool publish(std::uint64_t id, std::span<const std::byte> payload) override {
    if (in_flight_ >= settings_.max_in_flight) return false;
    NatsOutgoing* slot = bridge_->outbox.claim();
    if (slot == nullptr) return false;
    slot->id = id;
    slot->payload.assign(payload.begin(), payload.end());
    // The stream's last message is ID-1 only if this publisher sent ID-1 in the same unbroken run
    // (a resend from the first unacknowledged message continues the run; a skip starts a new one)
    // and the stream did not refuse ID-1 for good (then it never holds it).
    const bool after_rejected = last_rejected_ && *last_rejected_ + 1 == id;
    slot->expect_previous = settings_.ordered && run_started_ && id > run_first_ && id <= run_next_ && !after_rejected;
    if (!slot->expect_previous) run_first_ = id;
    run_started_ = true;
    run_next_ = id + 1;
    bridge_->outbox.commit();
    if (in_flight_ == 0) last_progress_ns_ = steady_ns();  // the wait for an answer starts now
    ++in_flight_;
    bridge_->bump_work();
    return true;
  }

  void poll() override {
    bridge_->reports.take_all([this](std::shared_ptr<NatsReport> r) { apply(*r); });
    expire_if_stalled();
  }

  std::size_t max_in_flight() const noexcept override { return settings_.max_in_flight; }

 private:
  // Nothing answered for timeout_ms while messages are in flight (a dead node, an election, a
  // lost acknowledgement): the session fails whatever libnats still waits on. Measured here, not
  // by libnats's per-message MaxWait timer: that timer's handler could free a message that
  // js_PublishMsgAsync was still writing (3.4.1 registers it before it writes it), whereas the
  // session takes the pending list on its own thread, between two publishes.
  void expire_if_stalled() {
    if (in_flight_ == 0) return;
    const std::int64_t now = steady_ns();
    if (now - last_progress_ns_ < settings_.ack_timeout_ms * 1'000'000) return;
    last_progress_ns_ = now;                                 // one request per timeout
    bridge_->expire.store(true, std::memory_order_release);  // release: pairs with the session's acquire
    bridge_->bump_work();
  }

  void apply(const NatsReport& r) {
    auto& c = shared_->counters;
    const bool about_a_message = r.kind == NatsReport::Kind::acknowledged || r.kind == NatsReport::Kind::failed ||
                                 r.kind == NatsReport::Kind::rejected;
    if (about_a_message) last_progress_ns_ = steady_ns();
    switch (r.kind) {
      case NatsReport::Kind::acknowledged:
        --in_flight_;
        events_->acknowledged(r.id);
        break;
      case NatsReport::Kind::failed:
        --in_flight_;
        events_->failed(r.id, r.text);
        break;
      case NatsReport::Kind::rejected:
        --in_flight_;
        last_rejected_ = r.id;
        events_->rejected(r.id, r.text);
        break;
      case NatsReport::Kind::connected:
        spdlog::info("destination {}: connected to {}", shared_->endpoint.str(), r.text);
        c.connects.add();
        events_->connection(DestinationState::connected, {});
        break;
      case NatsReport::Kind::reconnected:
        spdlog::info("destination {}: reconnected to {}", shared_->endpoint.str(), r.text);
        c.connects.add();
        c.reconnects.add();
        events_->connection(DestinationState::connected, {});
        break;
      case NatsReport::Kind::disconnected:
        spdlog::warn("destination {}: disconnected ({}); reconnecting", shared_->endpoint.str(), r.text);
        c.disconnects.add();
        events_->connection(DestinationState::connecting, r.text);
        break;
      case NatsReport::Kind::connect_failed:
        spdlog::warn("destination {}: {}; retrying", shared_->endpoint.str(), r.text);
        c.connect_failures.add();
        events_->connection(DestinationState::backing_off, r.text);
        break;
      case NatsReport::Kind::closed: events_->connection(DestinationState::backing_off, r.text); break;
    }
  }

  const NatsSettings settings_;
  std::shared_ptr<NatsBridge> bridge_;
  std::thread session_;
  PublishEvents* events_ = nullptr;
  DestinationShared* shared_ = nullptr;
  std::size_t in_flight_ = 0;          // taken, not yet reported
  std::int64_t last_progress_ns_ = 0;  // the last report, or the first message taken after none in flight
  bool run_started_ = false;
  std::optional<std::uint64_t> last_rejected_;  // the newest id refused for good
  std::uint64_t run_first_ = 0;                 // first id of the current unbroken run of ids
  std::uint64_t run_next_ = 0;                  // the id that would continue it
};

}  // namespace

void check_nats_publisher(const Endpoint& endpoint) { parse_nats_settings(endpoint); }

std::unique_ptr<Publisher> make_nats_publisher(const Endpoint& endpoint) {
  return std::make_unique<NatsPublisher>(parse_nats_settings(endpoint));
}

}  // namespace relay
