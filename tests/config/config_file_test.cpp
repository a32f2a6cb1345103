// The config file parser (config_file.hpp) and its merge with the command line
// (read_configuration): every key reaches its Config field, faults name FILE:LINE:COLUMN and
// the key (with "did you mean" for near misses), values are judged by the command line's own
// validators, and the command line wins over the file.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "command_line.hpp"
#include "config_file.hpp"
#include "did_you_mean.hpp"
#include "test_pki.hpp"

namespace relay {
namespace {

class ConfigFileTest : public ::testing::Test {
 protected:
  // Writes `text` as a config file in the test's directory and returns its path.
  std::string file(const std::string& text, const std::string& name = "relayd.toml") { return pki_.write(name, text); }

  static Invocation parse(const std::vector<std::string>& args) {
    std::vector<const char*> argv{"relayd"};
    for (const auto& a : args) argv.push_back(a.c_str());
    return read_configuration(static_cast<int>(argv.size()), argv.data());
  }
  // The faults a bad configuration is refused with (a failure if it is accepted).
  static std::vector<std::string> faults(const std::vector<std::string>& args) {
    try {
      parse(args);
    } catch (const UsageError& e) {
      return e.faults();
    }
    ADD_FAILURE() << "accepted";
    return {};
  }
  // The one fault of a config file holding `text`.
  std::string fault_of(const std::string& text) {
    const auto f = faults({"--config", file(text)});
    EXPECT_EQ(f.size(), 1u) << ::testing::PrintToString(f);
    return f.empty() ? std::string{} : f.front();
  }

  test::TestPki pki_;
};

TEST_F(ConfigFileTest, EveryKeyReachesItsConfigField) {
  const auto server = pki_.server("control", {"127.0.0.1"});
  const std::string tokens = pki_.write("tokens", "");
  const std::string path = file(fmt::format(R"(
listeners = ["udp@127.0.0.1:0", "tcp@127.0.0.1:0"]

[[destination]]
address = "tcp@127.0.0.1:2009"
framing = "line"

[[destination]]
address = "tls@127.0.0.1:6514"
framing = "lp32be"
ca = "{ca}"
sni = "sink.example"
verify = true

[queue]
max_bytes = "64MiB"
max_message_size = 1000

[ingest]
rcvbuf = 1048576
batch = 16
coalesce_us = 250
udp_gro = true
max_connections = 77
idle_timeout = 30.5

[delivery]
max_destinations = 9
reconnect_min = 0.25
reconnect_max = 3
connect_timeout = 2
drain_timeout = 7

[control]
address = "0.0.0.0:50052"
tls_cert = "{cert}"
tls_key = "{key}"
tls_client_ca = "{ca}"
token_file = "{tokens}"
insecure = true
socket_mode = 0o640
socket_group = "adm"

[log]
level = "debug"
stats_interval = 5
)",
                                            fmt::arg("ca", pki_.ca_path()), fmt::arg("cert", server.cert_path),
                                            fmt::arg("key", server.key_path), fmt::arg("tokens", tokens)));
  const Invocation inv = parse({"--config", path});
  const Config& c = inv.config;
  EXPECT_FALSE(inv.check_only);
  EXPECT_EQ(c.config_file, path);  // already absolute
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[0].str(), "udp@127.0.0.1:0");
  EXPECT_EQ(c.listen[1].str(), "tcp@127.0.0.1:0");
  ASSERT_EQ(c.destinations.size(), 2u);
  EXPECT_EQ(c.destinations[0].str(), "tcp@127.0.0.1:2009?framing=line");
  EXPECT_EQ(c.destinations[1].framing, Framing::lp32be);
  ASSERT_TRUE(c.destinations[1].tls.has_value());
  EXPECT_EQ(c.destinations[1].tls->ca, pki_.ca_path());
  EXPECT_EQ(c.destinations[1].tls->sni, "sink.example");
  EXPECT_TRUE(c.destinations[1].tls->verify);
  EXPECT_EQ(c.queue.max_queue_bytes, 64u << 20);
  EXPECT_EQ(c.ingest.max_message, 1000u);
  EXPECT_EQ(c.queue.max_message, 1000u);
  EXPECT_EQ(c.ingest.rcvbuf, 1 << 20);
  EXPECT_EQ(c.ingest.batch, 16u);
  EXPECT_DOUBLE_EQ(c.ingest.coalesce_seconds, 250e-6);
  EXPECT_TRUE(c.ingest.udp_gro);
  EXPECT_EQ(c.ingest.max_connections, 77u);
  EXPECT_DOUBLE_EQ(c.ingest.idle_timeout, 30.5);
  EXPECT_EQ(c.client.max_destinations, 9u);
  EXPECT_EQ(c.queue.max_cursors, 18u);  // two per destination: at-least-once
  EXPECT_DOUBLE_EQ(c.client.destination.reconnect_min, 0.25);
  EXPECT_DOUBLE_EQ(c.client.destination.reconnect_max, 3);
  EXPECT_DOUBLE_EQ(c.client.destination.connect_timeout, 2);
  EXPECT_DOUBLE_EQ(c.drain_timeout, 7);
  EXPECT_EQ(c.control, "0.0.0.0:50052");
  EXPECT_EQ(c.control_options.tls_cert, server.cert_path);
  EXPECT_EQ(c.control_options.tls_key, server.key_path);
  EXPECT_EQ(c.control_options.tls_client_ca, pki_.ca_path());
  EXPECT_EQ(c.control_options.token_file, tokens);
  EXPECT_TRUE(c.control_options.insecure);
  EXPECT_EQ(c.control_options.socket_mode, 0640u);
  EXPECT_EQ(c.control_options.socket_group, "adm");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_DOUBLE_EQ(c.background.stats_interval, 5);
}

// An empty file is the defaults, exactly as no file.
TEST_F(ConfigFileTest, EmptyFileIsTheDefaults) {
  const Config c = parse({"--config", file("# nothing\n")}).config;
  const Config d = parse({}).config;
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].str(), d.listen[0].str());
  EXPECT_TRUE(c.destinations.empty());
  EXPECT_EQ(c.queue.max_queue_bytes, d.queue.max_queue_bytes);
  EXPECT_EQ(c.control, d.control);
  EXPECT_EQ(c.log_level, d.log_level);
  EXPECT_TRUE(d.config_file.empty());
}

TEST_F(ConfigFileTest, ConfigPathIsRememberedAbsolute) {
  file("", "rel.toml");
  const std::string cwd = std::filesystem::current_path();
  std::filesystem::current_path(pki_.dir());
  const Config c = parse({"--config", "rel.toml"}).config;
  std::filesystem::current_path(cwd);
  EXPECT_EQ(c.config_file, pki_.dir() + "/rel.toml");
}

TEST_F(ConfigFileTest, UnknownKeyNamesPlaceAndNearestKey) {
  const std::string path = file("[queue]\nmax_byte = \"1GiB\"\n");
  EXPECT_EQ(fault_of("[queue]\nmax_byte = \"1GiB\"\n"),
            path + ":2:1: queue.max_byte: unknown key (did you mean max_bytes?)");
  EXPECT_EQ(fault_of("[log]\n  levle = \"info\"\n"), path + ":2:3: log.levle: unknown key (did you mean level?)");
  EXPECT_EQ(fault_of("[qeue]\nmax_bytes = 1\n"), path + ":1:2: qeue: unknown key (did you mean queue?)");
  // A flag's spelling, and a key of another section, point at the file's key.
  EXPECT_EQ(fault_of("log-level = \"info\"\n"),
            path + ":1:1: log-level: unknown key (did you mean log.level? the file's name for --log-level)");
  EXPECT_EQ(fault_of("[ingest]\nmax_bytes = 1\n"),
            path + ":2:1: ingest.max_bytes: unknown key (did you mean queue.max_bytes? it belongs in [queue])");
  EXPECT_EQ(fault_of("[[destination]]\naddress = \"tcp@127.0.0.1:9\"\nframng = \"line\"\n"),
            path + ":3:1: destination[0].framng: unknown key (did you mean framing?)");
  // Nothing near: the known keys are listed.
  EXPECT_EQ(fault_of("[log]\nwhatever = 1\n"),
            path + ":2:1: log.whatever: unknown key (known here: level, stats_interval)");
}

TEST_F(ConfigFileTest, WrongTypeNamesWhatIsExpected) {
  const std::string path = file("");
  EXPECT_EQ(fault_of("[queue]\nmax_message_size = \"big\"\n"),
            path + ":2:20: queue.max_message_size: expected an integer, not a string");
  EXPECT_EQ(fault_of("[ingest]\nudp_gro = 1\n"),
            path + ":2:11: ingest.udp_gro: expected true or false, not an integer");
  EXPECT_EQ(fault_of("[log]\nstats_interval = \"60s\"\n"),
            path + ":2:18: log.stats_interval: expected a number of seconds, not a string");
  EXPECT_EQ(fault_of("listeners = \"udp@127.0.0.1:0\"\n"),
            path + ":1:13: listeners: expected an array of addresses, not a string");
  EXPECT_EQ(fault_of("queue = 5\n"), path + ":1:9: queue: expected a table ([queue]), not an integer");
  // A decimal 640 is not the mode 0640.
  EXPECT_EQ(fault_of("[control]\nsocket_mode = 640\n"),
            path + ":2:15: control.socket_mode: expected an octal mode: \"0660\" or 0o660, not an integer");
}

// The value is judged by the flag's validator, so the reason is the command line's own.
TEST_F(ConfigFileTest, BadValueGetsTheFlagsReasonWithPlaceAndKey) {
  const std::string path = file("");
  std::string cli;
  try {
    parse({"--max-queue-bytes", "64Q"});
    ADD_FAILURE() << "64Q accepted on the command line";
  } catch (const UsageError& e) {
    cli = e.faults().at(0);
  }
  const std::string f = fault_of("[queue]\nmax_bytes = \"64Q\"\n");
  EXPECT_TRUE(f.starts_with(path + ":2:13: queue.max_bytes: ")) << f;
  ASSERT_TRUE(cli.starts_with("--max-queue-bytes: ")) << cli;
  EXPECT_EQ(f.substr(f.find("queue.max_bytes: ") + 17), cli.substr(19)) << f << "\nvs\n" << cli;

  EXPECT_EQ(fault_of("[queue]\nmax_bytes = -5\n"), path + ":2:13: queue.max_bytes: must not be negative: -5");
  EXPECT_NE(fault_of("[queue]\nmax_bytes = 1000\n").find(path + ":2:13: queue.max_bytes: "), std::string::npos);
  EXPECT_NE(fault_of("[log]\nstats_interval = nan\n")
                .find(path + ":2:18: log.stats_interval: must be 0 (off) or in [1 - 86400] seconds, not nan"),
            std::string::npos);
  EXPECT_NE(fault_of("[log]\nlevel = \"loud\"\n").find(path + ":2:9: log.level: "), std::string::npos);
  EXPECT_NE(fault_of("[ingest]\nbatch = 0\n").find(path + ":2:9: ingest.batch: "), std::string::npos);
  EXPECT_NE(fault_of("[control]\ntls_cert = \"/no/such/cert.pem\"\n").find(path + ":2:12: control.tls_cert: "),
            std::string::npos);
}

TEST_F(ConfigFileTest, EveryFaultIsReportedAtOnce) {
  const std::string path = file("[queue]\nmax_byte = 1\nmax_message_size = \"x\"\n[log]\nlevel = \"loud\"\n");
  const auto f = faults({"--config", path});
  ASSERT_EQ(f.size(), 2u) << ::testing::PrintToString(f);  // shape first: the value check waits for a sound file
  EXPECT_TRUE(f[0].starts_with(path + ":2:1: queue.max_byte")) << f[0];
  EXPECT_TRUE(f[1].starts_with(path + ":3:20: queue.max_message_size")) << f[1];
  const std::string values = file("[log]\nlevel = \"loud\"\nstats_interval = -1\n", "values.toml");
  const auto v = faults({"--config", values});
  ASSERT_EQ(v.size(), 2u) << ::testing::PrintToString(v);
  EXPECT_TRUE(v[0].starts_with(values + ":2:9: log.level")) << v[0];
  EXPECT_TRUE(v[1].starts_with(values + ":3:18: log.stats_interval")) << v[1];
}

TEST_F(ConfigFileTest, SyntaxErrorGivesTomlsLineAndColumn) {
  const std::string path = file("[queue]\nmax_bytes = \"1GiB\n");
  const std::string f = fault_of("[queue]\nmax_bytes = \"1GiB\n");
  EXPECT_TRUE(f.starts_with(path + ":2:")) << f;
  const std::string dup = fault_of("[log]\nlevel = \"info\"\nlevel = \"debug\"\n");
  EXPECT_TRUE(dup.starts_with(path + ":3:")) << dup;
  EXPECT_NE(dup.find("level"), std::string::npos) << dup;
}

TEST_F(ConfigFileTest, MissingFileIsAnError) {
  const auto f = faults({"--config", pki_.dir() + "/absent.toml"});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0], pki_.dir() + "/absent.toml: cannot read the config file: No such file or directory");
}

TEST_F(ConfigFileTest, BadAddressNamesItsPlace) {
  const std::string path = file("listeners = [\"udp@127.0.0.1:0\", \"udp@nowhere\"]\n");
  const std::string f = fault_of("listeners = [\"udp@127.0.0.1:0\", \"udp@nowhere\"]\n");
  EXPECT_TRUE(f.starts_with(path + ":1:33: listeners[1]: bad address \"udp@nowhere\"")) << f;
  const std::string d = fault_of("[[destination]]\naddress = \"tcp@127.0.0.1:9\"\nframing = \"bogus\"\n");
  EXPECT_TRUE(d.starts_with(path + ":2:11: destination[0]: ")) << d;
  EXPECT_NE(d.find("unknown framing \"bogus\""), std::string::npos) << d;
  const std::string missing = fault_of("[[destination]]\nframing = \"line\"\n");
  EXPECT_TRUE(missing.starts_with(path + ":1:1: destination[0]: needs an address")) << missing;
  const std::string ca = fault_of(R"([[destination]]
address = "tls@127.0.0.1:6514"
ca = "/no/such/ca.pem"
)");
  EXPECT_TRUE(ca.starts_with(path + ":2:11: destination[0]: ")) << ca;
  EXPECT_NE(ca.find("/no/such/ca.pem"), std::string::npos) << ca;
}

// A fault about two values names both as written, where the file gave them.
TEST_F(ConfigFileTest, CrossCheckNamesTheFilesKeys) {
  const std::string path = file("[delivery]\nreconnect_min = 5\nreconnect_max = 1\n");
  EXPECT_EQ(fault_of("[delivery]\nreconnect_min = 5\nreconnect_max = 1\n"),
            path + ":3:17: delivery.reconnect_max must not be below delivery.reconnect_min");
  const std::string budget = fault_of("[queue]\nmax_message_size = 16777216\n");
  EXPECT_EQ(budget,
            path +
                ":2:20: queue.max_message_size 16777216 needs queue.max_bytes of at least 268697600 (4 segments "
                "of 67174400 bytes); it is 268435456 by default");
  EXPECT_NE(fault_of("[control]\naddress = \"0.0.0.0:50051\"\n").find(path + ":2:11: refusing to serve control"),
            std::string::npos);
}

TEST_F(ConfigFileTest, CommandLineFlagWinsOverTheFile) {
  const std::string path = file("[queue]\nmax_bytes = \"1GiB\"\n[log]\nlevel = \"debug\"\nstats_interval = 5\n");
  const Config c = parse({"--config", path, "--max-queue-bytes", "64MiB", "--stats-interval", "0"}).config;
  EXPECT_EQ(c.queue.max_queue_bytes, 64u << 20);     // the flag
  EXPECT_DOUBLE_EQ(c.background.stats_interval, 0);  // the flag
  EXPECT_EQ(c.log_level, "debug");                   // the file: no flag given
  // A bad file value that a flag overrides is not judged: the command line's value is the one used.
  const std::string bad = file("[queue]\nmax_bytes = \"64Q\"\n", "bad.toml");
  EXPECT_EQ(parse({"--config", bad, "--max-queue-bytes", "8MiB"}).config.queue.max_queue_bytes, 8u << 20);
}

TEST_F(ConfigFileTest, CommandLineListsReplaceTheFilesLists) {
  const std::string path = file(R"(listeners = ["udp@127.0.0.1:0", "tcp@127.0.0.1:0"]
destination = ["tcp@127.0.0.1:2009", "tcp@127.0.0.1:2010"]
)");
  const Config file_only = parse({"--config", path}).config;
  EXPECT_EQ(file_only.listen.size(), 2u);
  EXPECT_EQ(file_only.destinations.size(), 2u);
  // LISTEN and DEST on the command line: both of the file's lists are replaced.
  const Config both = parse({"--config", path, "udp@127.0.0.1:0", "tcp@127.0.0.1:2011"}).config;
  ASSERT_EQ(both.listen.size(), 1u);
  EXPECT_EQ(both.listen[0].transport, Transport::udp);
  ASSERT_EQ(both.destinations.size(), 1u);
  EXPECT_EQ(both.destinations[0].port, 2011);
  // --listen alone: the command line's list, LISTEN's default and the --listen, as without a file;
  // the file's destinations stay.
  const Config extra = parse({"--config", path, "--listen", "udp@127.0.0.1:0"}).config;
  ASSERT_EQ(extra.listen.size(), 2u);
  EXPECT_EQ(extra.listen[0].str(), kDefaultListen);
  EXPECT_EQ(extra.listen[1].str(), "udp@127.0.0.1:0");
  EXPECT_EQ(extra.destinations.size(), 2u);
}

TEST_F(ConfigFileTest, CheckConfigReadsTheFileAndExcludesConfig) {
  const std::string path = file("[log]\nlevel = \"warn\"\n");
  const Invocation inv = parse({"--check-config", path});
  EXPECT_TRUE(inv.check_only);
  EXPECT_EQ(inv.config.log_level, "warn");
  EXPECT_EQ(inv.config.config_file, path);
  EXPECT_EQ(faults({"--check-config", path, "--config", path}).size(), 1u);
}

TEST_F(ConfigFileTest, SocketModeTakesStringOrOctal) {
  EXPECT_EQ(parse({"--config", file("[control]\nsocket_mode = \"0660\"\n")}).config.control_options.socket_mode, 0660u);
  EXPECT_EQ(parse({"--config", file("[control]\nsocket_mode = 0o600\n", "o.toml")}).config.control_options.socket_mode,
            0600u);
  EXPECT_NE(fault_of("[control]\nsocket_mode = 0o1777\n").find("control.socket_mode: an octal mode from 000 to 0777"),
            std::string::npos);
}

// false is false: a flag key set to false must not count as the flag given.
TEST_F(ConfigFileTest, FalseFlagStaysOff) {
  const std::string off = file("[control]\naddress = \"0.0.0.0:50051\"\ninsecure = false\n");
  EXPECT_NE(fault_of("[control]\naddress = \"0.0.0.0:50051\"\ninsecure = false\n").find("refusing to serve control"),
            std::string::npos);
  const std::string on = file("[control]\naddress = \"0.0.0.0:50051\"\ninsecure = true\n", "on.toml");
  EXPECT_TRUE(parse({"--config", on}).config.control_options.insecure);
  EXPECT_FALSE(parse({"--config", file("[ingest]\nudp_gro = false\n", "gro.toml")}).config.ingest.udp_gro);
}

TEST_F(ConfigFileTest, ControlNoneTurnsControlOff) {
  EXPECT_TRUE(parse({"--config", file("[control]\naddress = \"none\"\n")}).config.control.empty());
}

TEST(DidYouMeanTest, NearestWithinATypo) {
  EXPECT_EQ(did_you_mean("max_byte", {"max_bytes", "max_message_size"}), "max_bytes");
  EXPECT_EQ(did_you_mean("Max-Bytes", {"max_bytes"}), "max_bytes");  // case and '-' are free
  EXPECT_EQ(did_you_mean("lveel", {"level"}), "level");              // a swap is one edit
  EXPECT_EQ(did_you_mean("zzz", {"level"}), std::nullopt);
  EXPECT_EQ(did_you_mean("x", {"level", "log"}), std::nullopt);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

// Every key the parser knows is described in docs/CONFIG.md and appears in the example config.
TEST(ConfigDocsTest, EveryKeyIsDocumentedAndInTheExample) {
  const auto read = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  const std::string docs = read(RELAY_SOURCE_DIR "/docs/CONFIG.md");
  const std::string example = read(RELAY_SOURCE_DIR "/packaging/relayd.toml");
  ASSERT_FALSE(docs.empty());
  ASSERT_FALSE(example.empty());
  for (const auto& [key, flag] : config_file_keys()) {
    EXPECT_NE(docs.find("`" + key + "`"), std::string::npos) << key << " is not in docs/CONFIG.md";
    EXPECT_NE(docs.find("`" + flag + "`"), std::string::npos) << flag << " is not in docs/CONFIG.md";
    const std::string name = key.substr(key.find('.') + 1);
    EXPECT_NE(example.find(name + " ="), std::string::npos) << key << " is not in packaging/relayd.toml";
  }
}

}  // namespace
}  // namespace relay
