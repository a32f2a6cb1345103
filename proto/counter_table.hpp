// counter_table: the name, unit and meaning of every counter relayd keeps, defined once.
//
// This is part of relayd's contract with its clients, like relay.proto: the daemon's counter
// structs (daemon/common/counters.hpp), its statistics log line, the proto's counter messages
// (kept in line by a compile check in daemon/control/control_convert.cpp) and relayctl's tables
// (relayctl/counter_fields.hpp: column titles and the full set) are all derived from these
// tables, so a counter is added in exactly one place. Header only, no dependencies: relayd and
// relayctl both link it as the target relay_counter_table.
#pragma once

// X(name, unit, description)
#define RELAY_LISTENER_COUNTERS(X)                                                                              \
  X(received_messages, "messages", "messages accepted into the queue")                                          \
  X(received_bytes, "bytes", "payload bytes accepted into the queue")                                           \
  X(dropped_empty, "messages", "zero-length datagrams ignored")                                                 \
  X(dropped_oversized, "messages", "datagrams or frames longer than --max-message-size, dropped")               \
  X(dropped_queue_full, "messages", "messages dropped because the queue budget was exhausted")                  \
  X(kernel_drops, "messages", "datagrams the kernel dropped on the socket (SO_RXQ_OVFL, SO_MEMINFO)")           \
  X(receive_errors, "events", "receive system calls that failed")                                               \
  X(connections_accepted, "connections", "TCP ingest connections accepted")                                     \
  X(connections_closed_bad_frame, "connections", "TCP ingest connections closed on a bad frame")                \
  X(dropped_partial_frames, "messages", "TCP frames cut short by their connection closing or failing, dropped") \
  X(dropped_bad_frame_bytes, "bytes",                                                                           \
    "bytes dropped with a connection closed on a bad frame: its header and all read after")                     \
  X(connections_refused, "connections", "TCP ingest connections closed at once: --max-connections were open")   \
  X(connections_closed_idle, "connections", "TCP ingest connections closed after --ingest-idle-timeout unused") \
  X(tls_handshake_failures, "events", "tls@ ingest connections closed on a failed TLS handshake")

#define RELAY_DESTINATION_COUNTERS(X)                                                                     \
  X(sent_messages, "messages",                                                                            \
    "messages delivered: acknowledged by the peer's TCP (at-least-once) or fully written (at-most-once)") \
  X(sent_bytes, "bytes", "bytes written to the destination's socket, framing included")                   \
  X(dropped_lagging, "messages", "messages skipped because the destination fell behind the queue budget") \
  X(dropped_removed, "messages", "messages still queued for the destination when it was removed")         \
  X(connects, "connections", "connections established")                                                   \
  X(reconnects, "connections", "connections re-established after a failure")                              \
  X(connect_failures, "events", "connection attempts that failed or timed out")                           \
  X(disconnects, "events", "established connections lost (write error, reset or peer close)")             \
  X(resent_partial, "messages", "messages cut by a broken connection and resent whole")                   \
  X(tls_handshake_failures, "events", "TLS handshakes that failed or timed out (also connect_failures)")  \
  X(resent_unacked, "messages",                                                                           \
    "messages written but not acknowledged when a connection broke, sent again (possible duplicates)")    \
  X(publish_failures, "messages",                                                                         \
    "messages a broker or group member reported as not stored (or never answered for), sent again")       \
  X(rerouted, "messages", "group: messages sent to another member because theirs was down")               \
  X(dropped_rejected, "messages", "messages a broker refused for good (too large, invalid): not sent again")
