#include "fleet.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "output.hpp"
#include "table.hpp"
#include "units.hpp"

namespace relayctl {

namespace pb = relay::v1;

namespace {

void add_unique(std::vector<std::string>& out, std::string target) {
  if (!target.empty() && std::ranges::find(out, target) == out.end()) out.push_back(std::move(target));
}

std::string trimmed(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

void read_fleet_file(const std::string& path, std::vector<std::string>& out) {
  std::ifstream in(path);
  if (!in) throw CommandError(kExitUsage, "cannot read --fleet " + path);
  const std::size_t before = out.size();
  for (std::string line; std::getline(in, line);) {
    line = trimmed(line.substr(0, line.find('#')));
    add_unique(out, line);
  }
  if (out.size() == before) throw CommandError(kExitUsage, "--fleet " + path + " names no relay");
}

// HOST:PORT → one target per address HOST resolves to; unix: paths and literals stay as they are.
std::vector<std::string> each_address(const std::string& target) {
  const auto colon = target.rfind(':');
  if (target.starts_with("unix:") || colon == std::string::npos) return {target};
  std::string host = target.substr(0, colon);
  const std::string port = target.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    throw CommandError(kExitUsage, "--each-address: cannot resolve " + host + ": " + ::gai_strerror(rc));
  std::vector<std::string> out;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char name[NI_MAXHOST];
    if (::getnameinfo(a->ai_addr, a->ai_addrlen, name, sizeof name, nullptr, 0, NI_NUMERICHOST) != 0) continue;
    const std::string h = name;
    add_unique(out, (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port);
  }
  ::freeaddrinfo(found);
  return out;
}

// The fleet table's figures for one relay.
struct Row {
  std::uint64_t received = 0, sent = 0, dropped = 0, lag_max = 0, destinations = 0;
};

Row row_of(const pb::Stats& s) {
  Row r;
  const auto& in = s.received();
  r.received = in.received_messages();
  r.dropped = in.dropped_empty() + in.dropped_oversized() + in.dropped_queue_full() + in.kernel_drops() +
              in.dropped_partial_frames();
  for (const auto& d : s.destinations()) {
    r.sent += d.counters().sent_messages();
    r.dropped += d.counters().dropped_lagging() + d.counters().dropped_removed() + d.counters().dropped_rejected();
    r.lag_max = std::max<std::uint64_t>(r.lag_max, d.lag_messages());
    ++r.destinations;
  }
  return r;
}

void print_fleet_stats(std::ostream& out, const std::vector<FleetOutcome>& outcomes) {
  Table t({{"RELAY"},
           {"RECEIVED_MESSAGES", Align::right},
           {"SENT_MESSAGES", Align::right},
           {"DROPPED_MESSAGES", Align::right},
           {"LAG_MAX", Align::right},
           {"DESTINATIONS", Align::right},
           {"STATUS"}});
  Row total;
  std::size_t ok = 0;
  for (const auto& o : outcomes) {
    if (!o.stats) {
      t.add_row({o.server, "-", "-", "-", "-", "-", "FAILED"});
      continue;
    }
    const Row r = row_of(*o.stats);
    t.add_row({o.server, std::to_string(r.received), std::to_string(r.sent), std::to_string(r.dropped),
               std::to_string(r.lag_max), std::to_string(r.destinations), "ok"});
    total.received += r.received;
    total.sent += r.sent;
    total.dropped += r.dropped;
    total.lag_max = std::max(total.lag_max, r.lag_max);
    total.destinations += r.destinations;
    ++ok;
  }
  t.add_row({"TOTAL", std::to_string(total.received), std::to_string(total.sent), std::to_string(total.dropped),
             std::to_string(total.lag_max), std::to_string(total.destinations),
             std::to_string(ok) + "/" + std::to_string(outcomes.size()) + " ok"});
  t.print(out);
}

// One JSON object per relay: its answer (the command's own JSON line), or why it failed.
void print_fleet_json(std::ostream& out, const std::vector<FleetOutcome>& outcomes) {
  for (const auto& o : outcomes) {
    std::string result = trimmed(o.output);
    std::ranges::replace(result, '\n', ',');  // several lines (rare): one JSON array
    out << "{\"server\":\"" << o.server << "\",\"exit_code\":" << o.code;
    if (!result.empty())
      out << ",\"result\":" << (result.find("},{") != std::string::npos ? "[" + result + "]" : result);
    if (!o.error.empty()) {
      std::string e = o.error;
      std::ranges::replace(e, '"', '\'');
      out << ",\"error\":\"" << e << "\"";
    }
    out << "}\n";
  }
}

void print_sections(std::ostream& out, const std::vector<FleetOutcome>& outcomes) {
  for (const auto& o : outcomes) {
    out << "== " << o.server << (o.code == 0 ? "" : " (FAILED)") << " ==\n" << o.output;
    if (!o.error.empty()) out << "relayctl: " << o.error << '\n';
  }
}

}  // namespace

std::vector<std::string> fleet_targets(const GlobalOptions& g) {
  std::vector<std::string> given;
  // The default --server is not a member of the fleet a file names; one given explicitly is.
  if (g.server_given || g.fleet_file.empty()) {
    std::istringstream servers(g.server);
    for (std::string one; std::getline(servers, one, ',');) add_unique(given, trimmed(one));
  }
  if (!g.fleet_file.empty()) read_fleet_file(g.fleet_file, given);
  if (given.empty()) throw CommandError(kExitUsage, "--server names no relay");
  if (!g.each_address) return given;
  std::vector<std::string> out;
  for (const auto& t : given)
    for (auto& a : each_address(t)) add_unique(out, std::move(a));
  return out;
}

FleetRunner fleet_runner(Runner command) {
  return [command = std::move(command)](Session& s, FleetOutcome&) { return command(s); };
}

FleetRunner fleet_stats_runner() {
  return [](Session& s, FleetOutcome& o) -> int {
    pb::Stats resp;
    auto ctx = s.context();
    s.check(s.relay().GetStats(ctx.get(), {}, &resp));
    if (s.json()) print_json(s.out(), resp);
    o.stats = std::move(resp);
    return kExitOk;
  };
}

std::vector<FleetOutcome> run_everywhere(const std::vector<std::string>& targets, const GlobalOptions& g,
                                         const FleetRunner& runner) {
  std::vector<FleetOutcome> outcomes(targets.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    threads.emplace_back([&, i] {
      FleetOutcome& o = outcomes[i];
      o.server = targets[i];
      GlobalOptions one = g;
      one.server = targets[i];
      std::ostringstream buf;
      try {
        Session s(std::move(one), buf);
        o.code = runner(s, o);
      } catch (const CommandError& e) {
        o.code = e.code();
        o.error = e.what();
      } catch (const std::exception& e) {
        o.code = kExitRefused;
        o.error = e.what();
      }
      o.output = buf.str();
    });
  }
  for (auto& t : threads) t.join();
  return outcomes;
}

int report_fleet(std::string_view command, const std::vector<FleetOutcome>& outcomes, bool json, std::ostream& out,
                 std::ostream& err) {
  if (json)
    print_fleet_json(out, outcomes);
  else if (command == "stats")
    print_fleet_stats(out, outcomes);
  else
    print_sections(out, outcomes);
  std::vector<const FleetOutcome*> failed;
  for (const auto& o : outcomes)
    if (o.code != 0) failed.push_back(&o);
  if (failed.empty()) return kExitOk;
  err << "relayctl: " << command << " failed on " << failed.size() << " of " << outcomes.size() << " relays: ";
  for (std::size_t i = 0; i < failed.size(); ++i)
    err << (i == 0 ? "" : "; ") << failed[i]->server << " ("
        << (failed[i]->error.empty() ? "see above" : failed[i]->error) << ")";
  err << '\n';
  return failed.front()->code;
}

}  // namespace relayctl
