// nats_session: the thread that owns a nats@ destination's libnats connection and JetStream
// context. It connects (libnats's connect waits on sockets and handshakes: never on the client
// thread), hands every message the publisher put in the outbox to js_PublishMsgAsync, and on
// stop tears everything down — Close flushes and waits for the library's threads, which is why
// it happens here and not in the publisher's destructor.
//
// What it tells the client thread goes through the bridge's reports (nats_bridge.hpp):
// acknowledgements and failures from libnats's acknowledgement handler (one per message, from
// the library's reply-subscription thread, including the library's own timeout after
// timeout_ms: jsPubOptions.MaxWait), failures of the publish call itself, and connection changes
// from libnats's callback thread.
#pragma once

#include <memory>
#include <thread>

#include "nats_bridge.hpp"
#include "nats_settings.hpp"

namespace relay {

std::thread start_nats_session(std::shared_ptr<NatsBridge> bridge, NatsSettings settings);

// A stopping session's thread: joined when it ends, or at process exit at the latest (a session
// stops within a few seconds: Close's flush is bounded, and so is the wait for its callbacks).
void retire_nats_session(std::thread thread, std::shared_ptr<NatsBridge> bridge);

}  // namespace relay
