// config_file: relayd's TOML config file (docs/CONFIG.md), read into what it says as the
// command line would say it: each key becomes the flag it stands for with the text that flag
// would be given, and the place it was written. The command line's own validators then judge
// every value (command_line.cpp), so file and flags share one set of checks and a bad value's
// error names FILE:LINE:COLUMN and the key. Here only the file's shape is judged: TOML syntax,
// known keys, value types. Main thread (start-up, later reload); reads the file, nothing else.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay {

// A place in the file, as "FILE:LINE:COLUMN" (1-based, toml++'s count).
struct FilePlace {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string str() const;
};

// One scalar key, e.g. `max_bytes = "1GiB"` under [queue].
struct FileSetting {
  std::string key;    // as the file names it: "queue.max_bytes"
  std::string flag;   // the flag it stands for: "--max-queue-bytes"
  std::string value;  // as that flag would be given it: "1GiB", "268435456", "0.5", "true", "0660"
  FilePlace where;    // of the value
};

// One listener or destination, as the command line writes it ("tcp@HOST:PORT?framing=line").
struct FileAddress {
  std::string text;
  std::string key;  // "listeners[0]", "destination[2]"
  FilePlace where;  // of the address string
};

struct ConfigFile {
  std::string path;  // as given
  std::vector<FileSetting> settings;
  std::optional<std::vector<FileAddress>> listeners;     // unset: the file names none
  std::optional<std::vector<FileAddress>> destinations;  // unset: the file names none
};

// Reads and parses `path`. Throws UsageError listing every fault, each "FILE:LINE:COLUMN: key:
// reason": an unreadable file, a TOML syntax error (toml++'s description, line and column),
// unknown keys (with the nearest known one, "did you mean …?"), values of the wrong type.
ConfigFile read_config_file(const std::string& path);

// Every scalar key the file knows ("queue.max_bytes") with the flag it stands for
// ("--max-queue-bytes"), in the order docs/CONFIG.md lists them.
std::vector<std::pair<std::string, std::string>> config_file_keys();

}  // namespace relay
