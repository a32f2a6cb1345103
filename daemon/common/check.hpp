// check: RELAY_ASSERT, for preconditions and invariants that would otherwise live only in
// comments (the single-producer rule, a cursor advancing past what it peeked, ...).
//
// On in Debug and sanitizer builds (RELAY_CHECKS=1, set by cmake/Checks.cmake), where a failure
// prints the condition and its place and aborts; compiled out of release builds, so the data
// path pays nothing. Independent of NDEBUG, which RelWithDebInfo (the sanitizer presets) defines.
#pragma once

#if RELAY_CHECKS
#include <cstdio>
#include <cstdlib>

#define RELAY_ASSERT(cond, why)                                                                     \
  do {                                                                                              \
    if (!(cond)) {                                                                                  \
      std::fprintf(stderr, "%s:%d: relay check failed: %s (%s)\n", __FILE__, __LINE__, #cond, why); \
      std::abort();                                                                                 \
    }                                                                                               \
  } while (false)
#else
#define RELAY_ASSERT(cond, why) static_cast<void>(sizeof(!(cond)))
#endif
