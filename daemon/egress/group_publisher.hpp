// group_publisher: the Publisher of a destination group — hash@, any@ or failover@ TCP members
// (group_member.hpp) sharing one stream instead of each receiving all of it.
//
// The group is one destination, so one reader of the queue: one cursor, one checkpointed
// position, the ingest cost of one destination. Its PublishDestination hands each message over
// once; the group picks the member(s):
//  - hash: the key's XXH3 hash, jump consistent hash over the members (shard.hpp). The key is
//    key=field (default: up to the first space or tab, a graphite or statsd metric name),
//    key=payload or key=bytes:OFFSET-LENGTH. replicas=R sends each message to R distinct members
//    (acknowledged when all have it). A member that is down has its keys go to the next member
//    of the key's probe sequence, counted as rerouted; when it is back, its keys come back.
//  - any: the healthy member with the fewest bytes unacknowledged (the least lagged).
//  - failover: the first healthy member, in the order written.
// A message is acknowledged when every member it went to acknowledged it (their TCP, as for an
// at-least-once tcp@ destination). A member's broken connection reports its unacknowledged
// messages failed: the destination resends from the first of them, in order, to whoever is
// healthy then (so members may get some messages twice: resent_unacked). With no healthy member
// the group takes nothing and the queue holds the messages, like a tcp@ destination that is down.
//
// Options (besides framing=, which every member takes): key=, replicas= (hash only), inflight=
// (messages in flight, default 65536).
//
// Thread: built on any thread; everything else on the client thread.
#pragma once

#include <memory>

#include "publisher.hpp"

namespace relay {

// Throws EndpointError for an option the group does not take.
std::unique_ptr<Publisher> make_group_publisher(const Endpoint& endpoint);
// The options checked as make_group_publisher checks them, building nothing.
void check_group_publisher(const Endpoint& endpoint);

}  // namespace relay
