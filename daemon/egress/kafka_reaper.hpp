// kafka_reaper: tears librdkafka handles down away from the client thread.
//
// rd_kafka_destroy joins librdkafka's threads and takes up to a couple of seconds while they
// notice; the client thread must not wait for that (publisher.hpp). A removed kafka@ destination
// hands its handle here instead: a thread of its own purges what the handle still holds (nothing
// will be acknowledged through it: the destination settled or resends those messages) and
// destroys it, in parallel with any other handle's. At process exit a function-local static's
// destructor waits for every handle handed over to be destroyed and joins the threads, so
// librdkafka never runs while the process tears its statics down.
// Thread: any.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>

namespace relay {

// Takes `rk` over. `keep_alive` (what librdkafka's callbacks were given as opaque) is released
// only after rd_kafka_destroy returned.
void reap_kafka_handle(rd_kafka_t* rk, std::shared_ptr<void> keep_alive) noexcept;

// Blocks until every handle handed over so far is destroyed (tests, orderly shutdown).
void wait_kafka_handles_reaped() noexcept;

}  // namespace relay
