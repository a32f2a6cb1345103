// relayctl: the command-line client of relayd's control API (docs/CONTROL.md).
#include <grpc/support/log.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>

#include "commands.hpp"
#include "duration.hpp"
#include "exit_code.hpp"
#include "fleet.hpp"
#include "session.hpp"

namespace {

using relayctl::Runner;

CLI::App& group_command(CLI::App& app, std::string_view group) {
  if (group.empty()) return app;
  for (auto* sub : app.get_subcommands({})) {
    if (sub->get_name() == group) return *sub;
  }
  auto* sub = app.add_subcommand(std::string(group), std::string(relayctl::group_help(group)));
  sub->require_subcommand(1);
  return *sub;
}

// Builds every command from the table; returns each one's runner keyed by its CLI node.
std::map<const CLI::App*, Runner> add_commands(CLI::App& app) {
  std::map<const CLI::App*, Runner> runners;
  for (const auto& spec : relayctl::command_table()) {
    auto* cmd = group_command(app, spec.group).add_subcommand(std::string(spec.name), std::string(spec.help));
    runners[cmd] = spec.define(*cmd);
  }
  return runners;
}

void add_global_options(CLI::App& app, relayctl::GlobalOptions& g) {
  app.add_option("--server,-s", g.server,
                 "relayd's control address: HOST:PORT, [IPv6]:PORT or unix:/path; several, comma-separated, run "
                 "the command against each of them at once (a fleet)")
      ->envname("RELAYCTL_SERVER")
      ->capture_default_str();
  const char* fleet = "Fleet (several relays at once, docs/CONTROL.md)";
  app.add_option("--fleet", g.fleet_file, "file of relays, one control address a line ('#' comments)")
      ->envname("RELAYCTL_FLEET")
      ->group(fleet);
  app.add_flag("--each-address", g.each_address,
               "run against every address each --server/--fleet name resolves to (DNS names with many records)")
      ->group(fleet);
  app.add_option("--timeout,-t", g.timeout, "deadline of each call (500ms, 2s, 1m; plain number: seconds)")
      ->check(CLI::Validator([](std::string& s) { return relayctl::duration_error(s); }, "DUR"))
      ->capture_default_str();
  app.add_flag("--json", g.json, "print the API's messages as JSON (one object per line)");
  const char* tls = "TLS (relayd --control-tls-*)";
  app.add_option("--tls-ca", g.tls_ca, "PEM CA that signed relayd's certificate; turns TLS on")
      ->envname("RELAYCTL_TLS_CA")
      ->group(tls);
  app.add_option("--tls-cert", g.tls_cert, "PEM client certificate, for mutual TLS (with --tls-key)")
      ->envname("RELAYCTL_TLS_CERT")
      ->group(tls);
  app.add_option("--tls-key", g.tls_key, "PEM private key of --tls-cert")->envname("RELAYCTL_TLS_KEY")->group(tls);
  app.add_option("--tls-server-name", g.tls_server_name,
                 "name relayd's certificate must carry, when it is not --server's host; turns TLS on")
      ->envname("RELAYCTL_TLS_SERVER_NAME")
      ->group(tls);
  app.add_option("--token-file", g.token_file,
                 "file whose first line is a bearer token (relayd certs token) sent with every call")
      ->envname("RELAYCTL_TOKEN_FILE");
}

// One line, as scripts and people reading a log expect; CLI11's own report adds a second.
void print_usage_error(std::string what) {
  std::ranges::replace(what, '\n', ' ');
  std::cerr << "relayctl: " << what << " (see relayctl --help)\n";
}

// "dest add", "stats": the command as typed, for fleet reports.
std::string command_name(const CLI::App* cmd) {
  const CLI::App* parent = cmd->get_parent();
  return parent != nullptr && parent->get_parent() != nullptr ? parent->get_name() + " " + cmd->get_name()
                                                              : cmd->get_name();
}

int run_fleet(const CLI::App* cmd, const Runner& runner, const std::vector<std::string>& targets,
              const relayctl::GlobalOptions& globals) {
  const std::string name = command_name(cmd);
  if (name == "stats" && cmd->get_option("--watch")->count() > 0)
    throw relayctl::CommandError(relayctl::kExitUsage, "stats --watch takes one relay, not a fleet");
  const auto each = name == "stats" ? relayctl::fleet_stats_runner() : relayctl::fleet_runner(runner);
  const auto outcomes = relayctl::run_everywhere(targets, globals, each);
  return relayctl::report_fleet(name, outcomes, globals.json, std::cout, std::cerr);
}

int run(const std::map<const CLI::App*, Runner>& runners, relayctl::GlobalOptions globals) {
  const auto targets = relayctl::fleet_targets(globals);
  const bool fleet = targets.size() != 1 || !globals.fleet_file.empty() || globals.each_address;
  for (const auto& [cmd, runner] : runners) {
    if (!cmd->parsed()) continue;
    if (fleet) return run_fleet(cmd, runner, targets, globals);
    globals.server = targets.front();
    relayctl::Session session(std::move(globals), std::cout);
    return runner(session);
  }
  return relayctl::kExitUsage;  // unreachable: the CLI requires a command
}

// gRPC logs its own errors (a failed handshake, say) to stderr before the call returns, and the
// call's status says the same again: relayctl reports each failure in one line of its own, so
// gRPC's lines are dropped unless asked for with GRPC_VERBOSITY.
void quiet_grpc() {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function([](gpr_log_func_args*) {});
}

}  // namespace

int main(int argc, char** argv) {
  quiet_grpc();
  CLI::App app("relayctl: control a running relayd", "relayctl");
  app.fallthrough();  // global options may follow the command: `relayctl dest ls --json`
  app.require_subcommand(1);
  app.footer(relayctl::kExitCodesHelp);
  relayctl::GlobalOptions globals;
  add_global_options(app, globals);
  const auto runners = add_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a "parse error" with exit code 0; every real one is a usage error.
    if (e.get_exit_code() == 0) return app.exit(e) == 0 ? relayctl::kExitOk : relayctl::kExitUsage;
    print_usage_error(e.what());
    return relayctl::kExitUsage;
  }
  globals.server_given = app.count("--server") > 0;
  try {
    return run(runners, std::move(globals));
  } catch (const relayctl::CommandError& e) {
    std::cerr << "relayctl: " << e.what() << '\n';
    return e.code();
  }
}
