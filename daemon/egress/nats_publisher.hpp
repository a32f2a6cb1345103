// nats_publisher: a nats@ destination's Publisher (publisher.hpp) — a NATS JetStream subject,
// through libnats (docs/NATS.md).
//
// The client thread never calls libnats: publish() copies the message into an outbox ring and
// returns; a session thread (nats_session.hpp) owns the connection and makes the library calls
// that can wait; acknowledgements come back through a lock-free mailbox and a wake(), and poll()
// reports them. Every message carries Nats-Msg-Id = PREFIX-ID (the queue id), so a resend of a
// message the stream stored is dropped by the stream's duplicate window; with ordered=1 (the
// default) it also carries Nats-Expected-Last-Msg-Id = PREFIX-(ID-1) when this publisher sent
// ID-1 just before, so nothing is stored behind a message that failed: the destination's resend
// from the first unacknowledged message keeps the stream exact and in order across a leader
// change or a node's death. A message libnats never answers for fails after timeout_ms (the
// library's MaxWait timer), so every message taken is reported.
// Thread: built on any thread; everything else on the client thread.
#pragma once

#include <memory>

#include "publisher.hpp"

namespace relay {

// Throws EndpointError for an option it does not take, std::runtime_error when the library
// refuses the configuration.
std::unique_ptr<Publisher> make_nats_publisher(const Endpoint& endpoint);
// The options checked as make_nats_publisher checks them, building nothing.
void check_nats_publisher(const Endpoint& endpoint);

}  // namespace relay
