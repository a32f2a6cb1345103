// relay_stats: parses relayd's "stats ..." log lines.
//
//   ... stats listener=udp@127.0.0.1:PORT key=value ...
//   ... stats destination=tcp@127.0.0.1:PORT key=value ...
//   ... stats queue key=value ...
//
// Text before the word "stats" is the log prefix and ignored. For each subject the LAST line wins,
// so parsing the log of an exited relayd yields its exit report.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::test {

struct StatsRecord {
  std::string subject;  // the address, or "queue"
  std::map<std::string, std::string, std::less<>> fields;

  bool has(std::string_view key) const { return fields.find(key) != fields.end(); }
  // A numeric field; a missing or non-numeric field records a test failure and returns 0.
  std::uint64_t u(std::string_view key) const;
  double d(std::string_view key) const;
  std::string s(std::string_view key) const;
};

class RelayStats {
 public:
  static RelayStats parse(const std::vector<std::string>& lines);

  // The record whose address ends in ":PORT" (optionally followed by "?options"); nullopt if none.
  std::optional<StatsRecord> listener(std::uint16_t port) const;
  std::optional<StatsRecord> destination(std::uint16_t port) const;
  std::optional<StatsRecord> queue() const { return queue_; }

  const std::map<std::string, StatsRecord>& listeners() const { return listeners_; }
  const std::map<std::string, StatsRecord>& destinations() const { return destinations_; }

 private:
  void add(std::string_view stats_text);

  std::map<std::string, StatsRecord> listeners_;
  std::map<std::string, StatsRecord> destinations_;
  std::optional<StatsRecord> queue_;
};

// The port in an address like "tcp@127.0.0.1:2009?framing=line" or "udp@[::1]:5"; 0 if none.
std::uint16_t address_port(std::string_view address);

}  // namespace relay::test
