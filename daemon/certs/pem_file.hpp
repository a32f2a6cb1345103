// pem_file: reading and writing the small secret files of the control plane (keys, certificates,
// token files).
#pragma once

#include <string>

namespace relay::certs {

// Creates `path` with mode 0600 and writes `text`, fsynced. Never replaces an existing file:
// throws std::runtime_error ("refusing to overwrite PATH") if it exists, or naming the error.
void write_new_private_file(const std::string& path, const std::string& text);

// Whole file; throws std::runtime_error naming the path and the error. Refuses files over 1 MiB
// (no key, certificate bundle or token file of ours is near that).
std::string read_small_file(const std::string& path);

}  // namespace relay::certs
