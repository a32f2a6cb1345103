#include "certs_command.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

#include "certs_init.hpp"
#include "token_hash.hpp"

namespace relay::certs {

int run_certs_command(int argc, char** argv) {
  CLI::App app{"relayd certs: keys and certificates for relayd's control plane (mutual TLS)", "relayd certs"};
  app.require_subcommand(1);
  CertsInitOptions opts;
  auto* init = app.add_subcommand("init", "make a private CA, a server certificate and a client certificate in DIR");
  init->add_option("dir", opts.dir, "directory for the files (created mode 0700 if missing)")->required();
  init->add_option("--host", opts.hosts,
                   "a DNS name or IP address relayd is reached at; repeat for more (default: localhost, "
                   "127.0.0.1, ::1 and this host's name)");
  init->add_option("--client-name", opts.client_name, "common name of the client certificate")->capture_default_str();
  init->add_option("--days", opts.days, "validity of the server and client certificates")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  std::string token_name;
  std::string role = "admin";
  auto* token = app.add_subcommand("token", "make a bearer token for --control-token-file");
  token->add_option("name", token_name, "who the token is for (shown in the audit log)")
      ->required()
      ->check(CLI::Validator(
          [](std::string& s) {
            return !s.empty() && s.size() <= 64 &&
                           s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") ==
                               std::string::npos
                       ? std::string()
                       : std::string("a name is 1 to 64 of A-Z a-z 0-9 . _ - @");
          },
          "NAME"));
  token->add_option("--role", role, "read (stats, info, list, watch) or admin (everything)")
      ->check(CLI::IsMember({"read", "admin"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (token->parsed()) {
    const std::string secret = new_token();
    std::cout << "token for " << token_name << " (give it to the client; relayd keeps only its hash):\n  " << secret
              << "\nline for --control-token-file:\n  " << token_name << " " << role << " "
              << token_hash_text(hash_token(secret)) << "\n";
    return 0;
  }
  try {
    init_certs(opts, std::cout);
  } catch (const std::exception& e) {
    std::cerr << "relayd certs init: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace relay::certs
