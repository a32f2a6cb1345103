// private_directory: mkdir -p for the directories relayd keeps its own files in (--state-dir,
// --data-dir): every directory it makes is mode 0700, since what is in them says where messages
// go, or holds the messages themselves.
// Thread: any.
#pragma once

#include <string>

namespace relay {

// Makes `dir` and its missing parents; returns "" when `dir` is then a directory, else why not
// ("cannot create PART: REASON", "REASON" when it cannot be looked at, "not a directory"), for
// the caller to put in its own error naming the directory's role.
std::string make_private_directory(const std::string& dir);

}  // namespace relay
