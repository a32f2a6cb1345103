// The state directory (docs/STATE.md) in process: the file format round-trips and refuses any
// damage, a temporary file left by a crash is ignored and removed, the directory is made 0700 and
// the file 0600, a second store on the same directory is refused, and the reconciliation rule
// (effective_destinations) gives what the docs say.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime_state.hpp"
#include "state_error.hpp"
#include "state_format.hpp"
#include "state_store.hpp"

namespace relay {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "relay-state-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read(const std::string& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const std::string& p, const std::string& text) { std::ofstream(p, std::ios::trunc) << text; }

mode_t mode_of(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

const RuntimeState kSample{{"tcp@127.0.0.1:9000?framing=line", "tls@10.0.0.5:6514?sni=logs.example&verify=0"},
                           {"tcp@127.0.0.1:9001"}};

// Expects parse_state to refuse `text`, naming the file and saying `why`.
void expect_refused(const std::string& text, const std::string& why) {
  try {
    parse_state(text, "/var/lib/relayd/destinations.state");
    ADD_FAILURE() << "accepted:\n" << text;
  } catch (const StateError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("/var/lib/relayd/destinations.state"), std::string::npos) << msg;
    EXPECT_NE(msg.find(why), std::string::npos) << msg;
  }
}

TEST(StateFormat, RoundTrips) {
  EXPECT_EQ(parse_state(format_state(kSample), "f"), kSample);
  EXPECT_EQ(parse_state(format_state({}), "f"), RuntimeState{});
}

TEST(StateFormat, IsReadable) {
  const std::string text = format_state(kSample);
  EXPECT_NE(text.find("\nrelayd-state 1\nadded tcp@127.0.0.1:9000?framing=line\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nremoved tcp@127.0.0.1:9001\nchecksum fnv1a64 "), std::string::npos) << text;
}

TEST(StateFormat, EveryChangedByteIsDetected) {
  const std::string good = format_state(kSample);
  const std::size_t body = good.find("relayd-state");
  for (std::size_t i = body; i < good.size() - 1; ++i) {
    std::string bad = good;
    bad[i] = bad[i] == 'x' ? 'y' : 'x';
    EXPECT_THROW(parse_state(bad, "f"), StateError) << "byte " << i << " changed:\n" << bad;
  }
}

TEST(StateFormat, EveryCutIsDetected) {
  const std::string good = format_state(kSample);
  for (std::size_t n = 0; n < good.size(); ++n)
    EXPECT_THROW(parse_state(good.substr(0, n), "f"), StateError) << "cut at " << n;
}

TEST(StateFormat, RefusalsSayWhy) {
  expect_refused("", "empty");
  expect_refused("relayd-state 1\nadded tcp@127.0.0.1:1\n", "last line is not 'checksum");
  std::string body = "relayd-state 2\n";
  expect_refused(body + fmt::format("checksum fnv1a64 {:016x}\n", fnv1a64(body)), "version '2' is not understood");
  body = "relayd-state 1\nmoved tcp@127.0.0.1:1\n";
  expect_refused(body + fmt::format("checksum fnv1a64 {:016x}\n", fnv1a64(body)), "line 2: expected 'added ADDRESS'");
  body = "relayd-state 1\nadded udp@127.0.0.1:1\n";
  expect_refused(body + fmt::format("checksum fnv1a64 {:016x}\n", fnv1a64(body)), "tcp@HOST:PORT or tls@HOST:PORT");
  std::string damaged = format_state(kSample);
  damaged[damaged.find("9000")] = '8';
  expect_refused(damaged, "does not match the content");
}

TEST(StateStore, SavesAndLoadsWithPrivateModes) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/a/b";
  const mode_t old = ::umask(0);  // the modes must not depend on the caller's umask
  {
    StateStore store(dir);
    EXPECT_EQ(store.load(), RuntimeState{});  // no file yet
    store.save(kSample);
    EXPECT_EQ(store.load(), kSample);
    EXPECT_EQ(mode_of(store.file()), 0600u);
  }
  ::umask(old);
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(tmp.path() + "/a"), 0700u);
  StateStore again(dir);
  EXPECT_EQ(again.load(), kSample);
}

TEST(StateStore, LeftOverTemporaryFileIsIgnoredAndRemoved) {
  TempDir tmp;
  StateStore store(tmp.path());
  store.save(kSample);
  const std::string temp = tmp.path() + "/" + StateStore::kTempName;
  // A crash after writing half of the next state, before the rename.
  const std::string next = format_state(RuntimeState{{"tcp@127.0.0.1:7000"}, {}});
  write(temp, next.substr(0, next.size() / 2));
  EXPECT_EQ(store.load(), kSample);
  EXPECT_FALSE(fs::exists(temp));
}

TEST(StateStore, CorruptFileStopsLoadNamingIt) {
  TempDir tmp;
  StateStore store(tmp.path());
  store.save(kSample);
  std::string text = read(store.file());
  text.resize(text.size() - 5);
  write(store.file(), text);
  try {
    store.load();
    FAIL() << "a damaged file was accepted";
  } catch (const StateError& e) {
    EXPECT_NE(std::string(e.what()).find(store.file()), std::string::npos) << e.what();
  }
  EXPECT_TRUE(store.reset());
  EXPECT_EQ(store.load(), RuntimeState{});
  EXPECT_FALSE(store.reset());
}

TEST(StateStore, FailedSaveKeepsTheOldFile) {
  TempDir tmp;
  StateStore store(tmp.path());
  store.save(kSample);
  // The temporary file's name taken by a directory: open() fails as on a full or read-only disk
  // (a chmod would not stop root, which runs these tests in CI).
  fs::create_directory(tmp.path() + "/" + StateStore::kTempName);
  try {
    store.save(RuntimeState{});
    FAIL() << "save succeeded";
  } catch (const StateError& e) {
    EXPECT_NE(std::string(e.what()).find(StateStore::kTempName), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_state(read(store.file()), "f"), kSample);
}

TEST(StateStore, SecondStoreOnTheSameDirectoryIsRefused) {
  TempDir tmp;
  StateStore first(tmp.path());
  try {
    StateStore second(tmp.path());
    FAIL() << "two stores on one directory";
  } catch (const StateError& e) {
    EXPECT_NE(std::string(e.what()).find("another relayd"), std::string::npos) << e.what();
  }
}

TEST(StateStore, AFileWhereTheDirectoryShouldBeIsRefused) {
  TempDir tmp;
  write(tmp.path() + "/f", "x");
  EXPECT_THROW(StateStore(tmp.path() + "/f"), StateError);
}

// ---------------------------------------------------------------- the rule

const std::vector<std::string> kConfig{"tcp@127.0.0.1:1", "tcp@127.0.0.1:2?framing=line"};

TEST(EffectiveDestinations, ConfigMinusRemovedPlusAdded) {
  const RuntimeState s{{"tcp@127.0.0.1:3"}, {"tcp@127.0.0.1:1"}};
  const std::vector<EffectiveDestination> want{{"tcp@127.0.0.1:2?framing=line", Origin::config},
                                               {"tcp@127.0.0.1:3", Origin::api}};
  EXPECT_EQ(effective_destinations(kConfig, s), want);
  const std::vector<EffectiveDestination> plain{{kConfig[0], Origin::config}, {kConfig[1], Origin::config}};
  EXPECT_EQ(effective_destinations(kConfig, {}), plain);
}

TEST(EffectiveDestinations, AnAddedPeerTheConfigAlsoListsIsTheConfigs) {
  const RuntimeState s{{"tcp@127.0.0.1:2?framing=raw"}, {}};
  const std::vector<EffectiveDestination> want{{kConfig[0], Origin::config}, {kConfig[1], Origin::config}};
  EXPECT_EQ(effective_destinations(kConfig, s), want);
  EXPECT_EQ(normalized(kConfig, s), RuntimeState{});
}

TEST(EffectiveDestinations, RemovalOfAPeerTheConfigDropsIsForgotten) {
  EXPECT_EQ(normalized({"tcp@127.0.0.1:2"}, RuntimeState{{}, {"tcp@127.0.0.1:1"}}), RuntimeState{});
}

TEST(EffectiveDestinations, ApiChangesRecordTheDifference) {
  RuntimeState s = with_removed(kConfig, {}, kConfig[1]);
  EXPECT_EQ(s, (RuntimeState{{}, {kConfig[1]}}));
  // Re-added with other framing: the config's stays removed, the API's is added.
  s = with_added(kConfig, s, "tcp@127.0.0.1:2?framing=raw");
  EXPECT_EQ(s, (RuntimeState{{"tcp@127.0.0.1:2?framing=raw"}, {kConfig[1]}}));
  EXPECT_EQ(effective_destinations(kConfig, s).back(),
            (EffectiveDestination{"tcp@127.0.0.1:2?framing=raw", Origin::api}));
  // Removed again: only the removal remains.
  s = with_removed(kConfig, s, "tcp@127.0.0.1:2?framing=raw");
  EXPECT_EQ(s, (RuntimeState{{}, {kConfig[1]}}));
  // Re-added exactly as the config says: it is the config's again, nothing recorded.
  EXPECT_EQ(with_added(kConfig, s, kConfig[1]), RuntimeState{});
  // An API destination added and removed leaves nothing.
  EXPECT_EQ(with_removed(kConfig, with_added(kConfig, {}, "tcp@127.0.0.1:9"), "tcp@127.0.0.1:9"), RuntimeState{});
}

}  // namespace
}  // namespace relay
