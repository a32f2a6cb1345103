#include "kafka_publisher.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "clock.hpp"
#include "kafka_options.hpp"
#include "kafka_reaper.hpp"
#include "log_limiter.hpp"
#include "printable.hpp"
#include "shard.hpp"

namespace relay {
namespace {

// A message id travels through librdkafka as its per-message opaque pointer.
static_assert(sizeof(void*) >= sizeof(std::uint64_t));

class KafkaPublisher;

// What librdkafka's callbacks get as the handle's opaque. Separate from the publisher so a handle
// that outlives it (on kafka_reaper's thread) finds `owner` null instead of a dangling pointer.
// Written and read on the client thread only (callbacks run inside rd_kafka_poll there); the
// reaper's hand-over (a mutex) orders the last write before any read on the reaper's thread.
struct Hooks {
  KafkaPublisher* owner = nullptr;
};

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// One librdkafka producer and what hangs off it. A fatal error replaces the whole of it.
struct Handle {
  rd_kafka_t* rk = nullptr;
  rd_kafka_topic_t* topic = nullptr;
  rd_kafka_queue_t* reports = nullptr;  // the main queue (delivery reports, errors): wake-ups
  std::shared_ptr<Hooks> hooks;
};

// librdkafka's own log lines come from its threads. They repeat what error_cb reports (which
// relayd logs once per fault, rate limited), so they are shown at debug level only.
void on_log(const rd_kafka_t*, int level, const char* facility, const char* text) {
  spdlog::debug("librdkafka [{}] {}: {}", level, facility, text);
}

// The producer configuration the options ask for; librdkafka checks every property (no handle,
// no thread: this is also what check_kafka_publisher does).
ConfPtr make_conf(const KafkaOptions& options) {
  ConfPtr conf(rd_kafka_conf_new());
  std::array<char, 512> err{};
  for (const auto& p : options.properties) {
    if (rd_kafka_conf_set(conf.get(), p.name.c_str(), p.value.c_str(), err.data(), err.size()) != RD_KAFKA_CONF_OK)
      throw EndpointError(p.option.empty() ? fmt::format("kafka@ property {}={}: {}", p.name, p.value, err.data())
                                           : fmt::format("kafka@ option \"{}\": {}", printable(p.option), err.data()));
  }
  return conf;
}

// What no resend can fix: the message itself is too large or malformed for the cluster.
bool permanent(rd_kafka_resp_err_t err) noexcept {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE: return true;
    default: return false;
  }
}

class KafkaPublisher final : public Publisher {
 public:
  KafkaPublisher(const Endpoint& endpoint, KafkaOptions options)
      : name_(endpoint.peer()), topic_(endpoint.topic), options_(std::move(options)), conf_(make_conf(options_)) {
    rd_kafka_conf_set_dr_msg_cb(conf_.get(), &KafkaPublisher::on_delivery);
    rd_kafka_conf_set_error_cb(conf_.get(), &KafkaPublisher::on_error);
    rd_kafka_conf_set_log_cb(conf_.get(), &on_log);
    handle_ = make_handle();
  }

  ~KafkaPublisher() override { release(handle_); }
  KafkaPublisher(const KafkaPublisher&) = delete;
  KafkaPublisher& operator=(const KafkaPublisher&) = delete;

  void start(struct ev_loop*, PublishEvents& events, DestinationShared& shared) override {
    events_ = &events;
    shared_ = &shared;
    enable_wake(handle_);
    // Reports (errors) may have queued since the handle was made, before wake-ups were on:
    // librdkafka signals only an empty queue becoming non-empty, so look once now.
    events.wake();
  }

  bool publish(std::uint64_t id, std::span<const std::byte> payload) override {
    if (fatal_) return false;  // the handle is being replaced (poll)
    const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    std::array<char, 8> hashed{};
    std::string_view key;
    if (options_.key) {
      key = key_of(text, *options_.key);
      if (options_.payload_hash) {
        std::uint64_t h = key_hash(key);
        for (auto i = hashed.size(); i-- > 0; h >>= 8) hashed[i] = static_cast<char>(h & 0xff);
        key = std::string_view(hashed.data(), hashed.size());
      }
    }
    const rd_kafka_resp_err_t err = produce(id, text, options_.key ? key.data() : nullptr, key.size());
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++in_flight_;
      return true;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return false;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      events_->wake();  // error_cb reports the fatal error in the next poll, which replaces the handle
      return false;
    }
    if (permanent(err)) {  // taken, and reported rejected at the next poll (never from in here)
      refused_.push_back({id, rd_kafka_err2str(err)});
      events_->wake();
      return true;
    }
    // Refused as things stand (a topic or partition the cluster does not know yet): held, and
    // tried again at the destination's next tick.
    log_fault(spdlog::level::warn,
              fmt::format("librdkafka refuses message {}: {}; holding it", id, rd_kafka_err2str(err)));
    return false;
  }

  // rd_kafka_produceva, not the RD_KAFKA_V_* macros of rd_kafka_producev: those are GNU
  // statement expressions, which clang refuses under -Wpedantic -Werror.
  rd_kafka_resp_err_t produce(std::uint64_t id, std::string_view value, const char* key, std::size_t key_size) {
    std::array<rd_kafka_vu_t, 5> vu{};
    vu[0].vtype = RD_KAFKA_VTYPE_RKT;
    vu[0].u.rkt = handle_.topic;
    vu[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[1].u.i = RD_KAFKA_MSG_F_COPY;
    vu[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[2].u.mem = {const_cast<char*>(value.data()), value.size()};  // copied (F_COPY), never written
    vu[3].vtype = RD_KAFKA_VTYPE_KEY;
    vu[3].u.mem = {const_cast<char*>(key), key_size};
    vu[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[4].u.ptr = reinterpret_cast<void*>(static_cast<std::uintptr_t>(id));
    rd_kafka_error_t* error = rd_kafka_produceva(handle_.rk, vu.data(), vu.size());
    if (error == nullptr) return RD_KAFKA_RESP_ERR_NO_ERROR;
    const rd_kafka_resp_err_t err = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    return err;
  }

  void poll() override {
    std::vector<Refused> refused;
    refused.swap(refused_);
    for (const auto& r : refused) events_->rejected(r.id, r.why);
    if (handle_.rk != nullptr) rd_kafka_poll(handle_.rk, 0);
    // Non-blocking (timeout 0): known once any broker answered a metadata request.
    if (!ever_up_ && !fatal_ && rd_kafka_controllerid(handle_.rk, 0) >= 0) mark_up();
    if (fatal_ && in_flight_ == 0) replace_handle();
  }

  std::size_t max_in_flight() const noexcept override { return options_.inflight; }

 private:
  Handle make_handle() {
    Handle h;
    h.hooks = std::make_shared<Hooks>();
    h.hooks->owner = this;
    ConfPtr conf(rd_kafka_conf_dup(conf_.get()));
    rd_kafka_conf_set_opaque(conf.get(), h.hooks.get());
    std::array<char, 512> err{};
    h.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err.data(), err.size());
    if (h.rk == nullptr) throw std::runtime_error(fmt::format("kafka {}: librdkafka: {}", name_, err.data()));
    static_cast<void>(conf.release());  // rd_kafka_new took it
    h.topic = rd_kafka_topic_new(h.rk, topic_.c_str(), nullptr);
    if (h.topic == nullptr) {
      const std::string why = rd_kafka_err2str(rd_kafka_last_error());
      release(h);
      throw std::runtime_error(fmt::format("kafka {}: topic {}: {}", name_, topic_, why));
    }
    return h;
  }

  void enable_wake(Handle& h) {
    h.reports = rd_kafka_queue_get_main(h.rk);
    rd_kafka_queue_cb_event_enable(h.reports, &KafkaPublisher::on_reports, this);
  }

  // Client thread (or the builder's, before start): nothing here waits for librdkafka. Turning
  // the wake-up off takes the queue's lock, which librdkafka holds while it calls on_reports, so
  // once it returns no call to on_reports is running or will start.
  static void release(Handle& h) noexcept {
    if (h.reports != nullptr) {
      rd_kafka_queue_cb_event_enable(h.reports, nullptr, nullptr);
      rd_kafka_queue_destroy(h.reports);
    }
    if (h.topic != nullptr) rd_kafka_topic_destroy(h.topic);
    if (h.hooks) h.hooks->owner = nullptr;
    if (h.rk != nullptr) reap_kafka_handle(h.rk, std::move(h.hooks));
    h = Handle{};
  }

  // After a fatal error every message the old producer held has been reported failed (purged):
  // a new producer (a new producer id and epoch) takes the resends.
  void replace_handle() {
    release(handle_);
    try {
      handle_ = make_handle();
    } catch (const std::exception& e) {
      log_fault(spdlog::level::err, fmt::format("cannot create a new producer: {}", e.what()));
      return;  // still fatal_: tried again at the next poll
    }
    enable_wake(handle_);
    fatal_ = false;
    spdlog::info("kafka {}: new producer created after the fatal error", name_);
  }

  // librdkafka thread, with the queue's lock held: only the thread-safe wake-up.
  static void on_reports(rd_kafka_t*, void* opaque) { static_cast<KafkaPublisher*>(opaque)->events_->wake(); }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (auto* owner = static_cast<Hooks*>(opaque)->owner) owner->delivered(*m);
  }

  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    if (auto* owner = static_cast<Hooks*>(opaque)->owner)
      owner->library_error(static_cast<rd_kafka_resp_err_t>(err), reason);
  }

  void delivered(const rd_kafka_message_t& m) {
    --in_flight_;
    const auto id = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(m._private));
    if (m.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      mark_up();
      events_->acknowledged(id);
      return;
    }
    if (permanent(m.err)) return events_->rejected(id, rd_kafka_err2str(m.err));
    log_fault(spdlog::level::warn,
              fmt::format("message {} not acknowledged: {}; reported failed", id, rd_kafka_err2str(m.err)));
    events_->failed(id, rd_kafka_err2str(m.err));
  }

  void library_error(rd_kafka_resp_err_t err, const char* reason) {
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      std::array<char, 512> text{};
      const rd_kafka_resp_err_t cause = rd_kafka_fatal_error(handle_.rk, text.data(), text.size());
      // Not rate limited: once per producer, and it explains a burst of failed messages.
      spdlog::error(
          "kafka {}: fatal idempotent-producer error {}: {}; every message it holds is failed and sent again "
          "through a new producer (ordering per key holds; the broker may store duplicates)",
          name_, rd_kafka_err2name(cause), text.data());
      fatal_ = true;
      rd_kafka_purge(handle_.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
      mark_down(text.data());
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
      mark_down(reason);
      return;
    }
    // One broker's connection (refused, lost, name not resolved, authentication) while the
    // cluster as a whole is not known to be down: a failed attempt when nothing is connected.
    if (!up_) shared_->counters.connect_failures.add();
    log_fault(spdlog::level::warn, fmt::format("{} ({})", reason, rd_kafka_err2name(err)));
  }

  void mark_up() {
    if (up_) return;
    up_ = true;
    shared_->counters.connects.add();
    if (ever_up_) shared_->counters.reconnects.add();
    ever_up_ = true;
    down_shown_ = false;
    events_->connection(DestinationState::connected, "");
    spdlog::info("kafka {}: connected", name_);
  }

  void mark_down(std::string_view reason) {
    if (up_) {
      up_ = false;
      shared_->counters.disconnects.add();
    }
    if (down_shown_) return;  // one report per outage, whatever librdkafka repeats
    down_shown_ = true;
    events_->connection(DestinationState::backing_off, reason);
    // Its own limiter: once per outage, so a burst of per-broker lines cannot hide it.
    if (state_log_limit_.allow(steady_ns())) spdlog::warn("kafka {}: down: {}", name_, reason);
  }

  void log_fault(spdlog::level::level_enum level, const std::string& line) {
    if (!log_limit_.allow(steady_ns())) return;
    if (log_limit_.suppressed() == 0)
      spdlog::log(level, "kafka {}: {}", name_, line);
    else
      spdlog::log(level, "kafka {}: {} ({} similar lines held back)", name_, line, log_limit_.suppressed());
  }

  struct Refused {
    std::uint64_t id;
    std::string why;
  };

  const std::string name_;
  const std::string topic_;
  std::vector<Refused> refused_;  // taken by publish() but refused by librdkafka: reported in poll()
  const KafkaOptions options_;
  ConfPtr conf_;  // the template every handle is made from
  Handle handle_;
  PublishEvents* events_ = nullptr;
  DestinationShared* shared_ = nullptr;
  std::size_t in_flight_ = 0;  // taken by publish(), not yet reported
  bool fatal_ = false;         // the producer hit a fatal error; replaced once in_flight_ is 0
  bool up_ = false;
  bool ever_up_ = false;
  bool down_shown_ = false;     // backing_off reported since the last connected
  LogLimiter log_limit_;        // per-message and per-broker faults
  LogLimiter state_log_limit_;  // down lines (a flapping cluster)
};

}  // namespace

void check_kafka_publisher(const Endpoint& endpoint) { make_conf(parse_kafka_options(endpoint)); }

std::unique_ptr<Publisher> make_kafka_publisher(const Endpoint& endpoint) {
  return std::make_unique<KafkaPublisher>(endpoint, parse_kafka_options(endpoint));
}

}  // namespace relay
