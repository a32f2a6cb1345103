// temp_dir: a fresh directory under the system's temp dir, removed with everything in it when
// the test is done (key files, sockets, token files the tests write).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace relay::test {

class TempDir {
 public:
  // `prefix` names the test in the directory's name: /tmp/PREFIX-XXXXXX.
  explicit TempDir(const std::string& prefix = "relay-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;  // a test that failed half-way must not throw from here too
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string file(const std::string& name) const { return *this / name; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Replaces `path`'s content with `text`.
inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

}  // namespace relay::test
