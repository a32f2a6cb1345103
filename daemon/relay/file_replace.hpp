// file_replace: a small file rewritten whole so that a crash at any instant leaves the old
// content or the new, never a torn file: a temporary file beside it, fsync, rename over it, fsync
// of the directory (the rename is durable only once the directory is). Without `sync` the two
// fsyncs are left out: still never torn, but a power loss may bring the old content back.
// Used for the state file (state_store.hpp) and the positions file (checkpoint.hpp).
// Thread: any; one writer per file.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay {

struct ReplaceFailure {
  enum Step { create, write, fsync, rename, directory } step;  // directory: its fsync, after the rename
  int error;                                                   // errno
};

// Writes `text` to `temp` and renames it over `file` in `dir`. On a failure before the rename the
// temporary file is removed; after it (the directory's fsync) the new file is in place.
std::optional<ReplaceFailure> replace_file(const std::string& dir, const std::string& file, const std::string& temp,
                                           std::string_view text, bool sync);

}  // namespace relay
