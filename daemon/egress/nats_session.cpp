#include "nats_session.hpp"

#include <fmt/format.h>
#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "thread_name.hpp"

namespace relay {
namespace {

constexpr std::int64_t kPingIntervalMs = 2000;  // a silent server (no RST) is noticed in ~3 pings
constexpr int kMaxPingsOut = 2;
constexpr std::int64_t kWriteDeadlineMs = 2000;  // a stuck socket fails the publish, not hangs it
constexpr auto kCloseWait = std::chrono::seconds(5);

std::string last_error(natsStatus s) {
  const char* text = nats_GetLastError(nullptr);
  return text != nullptr && *text != '\0' ? std::string(text) : std::string(natsStatus_GetText(s));
}

std::string message_id(const std::string& prefix, std::uint64_t id) { return fmt::format("{}-{}", prefix, id); }

// The queue id is what follows the last '-' of Nats-Msg-Id (the prefix may contain '-' too).
bool id_of(natsMsg* msg, std::uint64_t& id) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &value) != NATS_OK || value == nullptr) return false;
  const char* dash = std::strrchr(value, '-');
  if (dash == nullptr) return false;
  const char* end = value + std::strlen(value);
  const auto [p, ec] = std::from_chars(dash + 1, end, id);
  return ec == std::errc{} && p == end;
}

// libnats's reply-subscription thread, once per message js_PublishMsgAsync took: the stream's
// acknowledgement, its error, or the library's timeout (MaxWait) for an answer that never came.
void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* bridge = static_cast<NatsBridge*>(closure);
  std::uint64_t id = 0;
  if (id_of(msg, id)) {
    if (pa != nullptr) {
      bridge->report({NatsReport::Kind::acknowledged, id, {}});
    } else {
      std::string why;
      if (pae == nullptr)
        why = "no acknowledgement";
      else if (pae->Err == NATS_TIMEOUT)
        why = fmt::format("no acknowledgement within {} ms", bridge->ack_timeout_ms);
      else if (pae->ErrText != nullptr && *pae->ErrText != '\0')
        why = pae->ErrCode != 0 ? fmt::format("{} (JetStream error {})", pae->ErrText, static_cast<int>(pae->ErrCode))
                                : std::string(pae->ErrText);
      else
        why = natsStatus_GetText(pae->Err);
      // JetStream's "message size exceeds maximum allowed": no resend can fix it.
      constexpr int kMessageTooLarge = 10054;
      const bool too_large = pae != nullptr && static_cast<int>(pae->ErrCode) == kMessageTooLarge;
      bridge->report({too_large ? NatsReport::Kind::rejected : NatsReport::Kind::failed, id, std::move(why)});
    }
  } else {
    spdlog::error("nats: an acknowledgement for a message without a relay Nats-Msg-Id; ignored");
  }
  natsMsg_Destroy(msg);  // with an AckHandler the message is ours to free
}

std::string url_of(natsConnection* nc) {
  char url[256] = {};
  return natsConnection_GetConnectedUrl(nc, url, sizeof url) == NATS_OK ? std::string(url) : std::string("server");
}

// libnats's callback thread.
void on_connected(natsConnection* nc, void* closure) {
  static_cast<NatsBridge*>(closure)->report({NatsReport::Kind::connected, 0, url_of(nc)});
}
void on_reconnected(natsConnection* nc, void* closure) {
  static_cast<NatsBridge*>(closure)->report({NatsReport::Kind::reconnected, 0, url_of(nc)});
}
void on_disconnected(natsConnection* nc, void* closure) {
  const char* text = nullptr;
  natsConnection_GetLastError(nc, &text);
  std::string why = text != nullptr && *text != '\0' ? std::string(text) : std::string("connection lost");
  static_cast<NatsBridge*>(closure)->report({NatsReport::Kind::disconnected, 0, std::move(why)});
}
// The last callback libnats makes for a connection.
void on_closed(natsConnection*, void* closure) {
  auto* bridge = static_cast<NatsBridge*>(closure);
  if (!bridge->stopping.load(std::memory_order_acquire)) {  // acquire: pairs with the publisher's stop
    bridge->report({NatsReport::Kind::closed, 0, "connection closed by the library"});
    bridge->bump_work();
  }
  bridge->signal_closed();
}

class Session {
 public:
  Session(std::shared_ptr<NatsBridge> bridge, NatsSettings settings)
      : bridge_(std::move(bridge)), s_(std::move(settings)) {}

  void run() {
    name_this_thread("relay-nats");
    while (!stopping()) {
      if (connect()) {
        publish_until_stopped_or_closed();
        teardown();
      } else {
        fail_outbox_for(std::chrono::milliseconds(s_.reconnect_wait_ms));
      }
    }
    drop_outbox();
    bridge_->session_done.store(true, std::memory_order_release);  // release: see NatsBridge
  }

 private:
  bool stopping() const noexcept { return bridge_->stopping.load(std::memory_order_acquire); }  // pairs: stop()

  bool connect() {
    bridge_->closed_seen.store(false, std::memory_order_seq_cst);  // seq_cst: see NatsBridge
    std::vector<const char*> urls;
    for (const auto& u : s_.urls) urls.push_back(u.c_str());
    natsOptions* opts = nullptr;
    natsStatus st = natsOptions_Create(&opts);
    if (st == NATS_OK) st = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
    if (st == NATS_OK) st = natsOptions_SetName(opts, "relayd");
    if (st == NATS_OK) st = natsOptions_SetMaxReconnect(opts, -1);  // forever: the destination never gives up
    if (st == NATS_OK) st = natsOptions_SetReconnectWait(opts, s_.reconnect_wait_ms);
    if (st == NATS_OK) st = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, bridge_.get());
    if (st == NATS_OK) st = natsOptions_SetDisconnectedCB(opts, on_disconnected, bridge_.get());
    if (st == NATS_OK) st = natsOptions_SetReconnectedCB(opts, on_reconnected, bridge_.get());
    if (st == NATS_OK) st = natsOptions_SetClosedCB(opts, on_closed, bridge_.get());
    if (st == NATS_OK) st = natsOptions_SetPingInterval(opts, kPingIntervalMs);
    if (st == NATS_OK) st = natsOptions_SetMaxPingsOut(opts, kMaxPingsOut);
    if (st == NATS_OK) st = natsOptions_SetWriteDeadline(opts, kWriteDeadlineMs);
    if (st != NATS_OK) {
      bridge_->report({NatsReport::Kind::connect_failed, 0, "options: " + last_error(st)});
      natsOptions_Destroy(opts);
      return false;
    }
    st = natsConnection_Connect(&nc_, opts);
    natsOptions_Destroy(opts);  // the connection keeps its own copy
    if (st == NATS_NOT_YET_CONNECTED) {
      bridge_->report({NatsReport::Kind::connect_failed, 0, "no server reachable yet: " + last_error(st)});
    } else if (st == NATS_OK) {
      bridge_->report({NatsReport::Kind::connected, 0, url_of(nc_)});  // connectedCb is for late connects only
    } else {
      bridge_->report({NatsReport::Kind::connect_failed, 0, last_error(st)});
      nc_ = nullptr;
      return false;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = bridge_.get();
    jo.PublishAsync.MaxPending = 0;  // unlimited: the publisher's window bounds it, libnats never stalls
    st = natsConnection_JetStream(&js_, nc_, &jo);
    if (st != NATS_OK) {
      bridge_->report({NatsReport::Kind::connect_failed, 0, "JetStream context: " + last_error(st)});
      teardown();
      return false;
    }
    return true;
  }

  void publish_until_stopped_or_closed() {
    while (true) {
      // acquire: a bump we see makes the commit (or stop) before it visible.
      const std::uint32_t seen = bridge_->work.load(std::memory_order_acquire);
      if (stopping() || bridge_->closed_seen.load(std::memory_order_seq_cst)) return;
      if (bridge_->expire.exchange(false, std::memory_order_acquire)) expire_pending();  // acquire: see NatsBridge
      bool any = false;
      while (NatsOutgoing* m = bridge_->outbox.front()) {
        publish_one(*m);
        bridge_->outbox.release();
        any = true;
      }
      if (!any) bridge_->work.wait(seen, std::memory_order_acquire);
    }
  }

  void publish_one(const NatsOutgoing& m) {
    const std::string msg_id = message_id(s_.msg_id_prefix, m.id);
    const std::string previous = m.expect_previous ? message_id(s_.msg_id_prefix, m.id - 1) : std::string();
    jsPubOptions po;
    jsPubOptions_Init(&po);
    // No MaxWait: the publisher measures the timeout and asks for expire_pending() (why: see
    // NatsPublisher::expire_if_stalled).
    po.MsgId = msg_id.c_str();
    if (m.expect_previous) po.ExpectLastMsgId = previous.c_str();
    natsMsg* msg = nullptr;
    natsStatus st = natsMsg_Create(&msg, s_.subject.c_str(), nullptr, reinterpret_cast<const char*>(m.payload.data()),
                                   static_cast<int>(m.payload.size()));
    if (st == NATS_OK) st = js_PublishMsgAsync(js_, &msg, &po);
    if (st != NATS_OK)
      bridge_->report({st == NATS_MAX_PAYLOAD ? NatsReport::Kind::rejected : NatsReport::Kind::failed, m.id,
                       "publish: " + last_error(st)});
    natsMsg_Destroy(msg);  // null when the library took it
  }

  // Every message libnats still waits on an acknowledgement for, failed. Taking them off the
  // pending list means a late acknowledgement finds nothing: each is reported once. On this
  // thread, between publishes, so none of them is being written.
  void expire_pending() {
    if (js_ == nullptr) return;
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, js_) != NATS_OK) return;  // NATS_NOT_FOUND: none
    const std::string why = fmt::format("no acknowledgement within {} ms", s_.ack_timeout_ms);
    for (int i = 0; i < pending.Count; ++i) {
      std::uint64_t id = 0;
      if (pending.Msgs[i] != nullptr && id_of(pending.Msgs[i], id))
        bridge_->report({NatsReport::Kind::failed, id, why});
    }
    natsMsgList_Destroy(&pending);
  }

  // Stops every callback that could still reach the bridge, then frees the library's objects.
  void teardown() {
    if (js_ != nullptr) {
      // No acknowledgement handler runs for messages taken off the pending list; one that is
      // running now finishes before the pending count reaches 0, which Complete waits for.
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) natsMsgList_Destroy(&pending);
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = 5000;
      js_PublishAsyncComplete(js_, &po);
      jsCtx_Destroy(js_);
      js_ = nullptr;
    }
    if (nc_ != nullptr) {
      natsConnection_Close(nc_);
      const auto deadline = std::chrono::steady_clock::now() + kCloseWait;
      // Polling, not a notification: the callback must not touch the bridge after saying it is done.
      while (!bridge_->closed_and_quiet() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (!bridge_->closed_and_quiet()) {
        // A late callback would find the bridge freed: keep it, and say so.
        spdlog::warn("nats: the connection's closed callback did not come within {} s; keeping its state",
                     kCloseWait.count());
        new std::shared_ptr<NatsBridge>(bridge_);  // deliberately leaked
      }
      natsConnection_Destroy(nc_);
      nc_ = nullptr;
    }
  }

  // Without a connection, what the publisher hands over fails at once (it will come again after
  // the destination's backoff); `pause` later, another connection attempt.
  void fail_outbox_for(std::chrono::milliseconds pause) {
    const auto until = std::chrono::steady_clock::now() + pause;
    while (!stopping() && std::chrono::steady_clock::now() < until) {
      while (NatsOutgoing* m = bridge_->outbox.front()) {
        bridge_->report({NatsReport::Kind::failed, m->id, "not connected"});
        bridge_->outbox.release();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void drop_outbox() {
    while (bridge_->outbox.front() != nullptr) bridge_->outbox.release();
  }

  std::shared_ptr<NatsBridge> bridge_;
  const NatsSettings s_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

// Session threads that are stopping, joined once done; mutex: destination removal and exit only.
struct Retired {
  std::mutex mu;
  std::vector<std::pair<std::thread, std::shared_ptr<NatsBridge>>> threads;
  ~Retired() {
    for (auto& [t, b] : threads) t.join();
  }
};
Retired& retired() {
  static Retired r;
  return r;
}

}  // namespace

std::thread start_nats_session(std::shared_ptr<NatsBridge> bridge, NatsSettings settings) {
  return std::thread([session = std::make_shared<Session>(std::move(bridge), std::move(settings))] { session->run(); });
}

void retire_nats_session(std::thread thread, std::shared_ptr<NatsBridge> bridge) {
  auto& r = retired();
  std::lock_guard lock(r.mu);
  std::erase_if(r.threads, [](auto& entry) {
    if (!entry.second->session_done.load(std::memory_order_acquire)) return false;  // acquire: see NatsBridge
    entry.first.join();
    return true;
  });
  r.threads.emplace_back(std::move(thread), std::move(bridge));
}

}  // namespace relay
