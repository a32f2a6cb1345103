// thread_name: names the calling thread, so `top -H`, `perf --sort comm` and gdb show which of
// relayd's threads is busy. Linux allows 15 characters; longer names are cut, never an error.
#pragma once

#include <pthread.h>

#include <string>

namespace relay {

inline void name_this_thread(const std::string& name) {
  const std::string cut = name.substr(0, 15);
  pthread_setname_np(pthread_self(), cut.c_str());  // best effort: a failure only loses the label
}

}  // namespace relay
