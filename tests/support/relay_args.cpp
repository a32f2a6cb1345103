#include "relay_args.hpp"

namespace relay::test {

std::string destination(std::uint16_t port, Framing framing, bool explicit_default) {
  std::string d = "tcp@127.0.0.1:" + std::to_string(port);
  if (framing != Framing::lp32le || explicit_default) d += "?framing=" + std::string(name(framing));
  return d;
}

std::vector<std::string> data_path_options() {
  return {"--control",       "none", "--stats-interval", "0",   "--reconnect-min", "0.05",
          "--reconnect-max", "0.2",  "--log-level",      "info"};
}

std::vector<std::string> relayd_args(const std::string& listen, const std::vector<std::string>& destinations,
                                     std::initializer_list<std::string> extra) {
  std::vector<std::string> args = data_path_options();
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(listen);
  args.insert(args.end(), destinations.begin(), destinations.end());
  return args;
}

}  // namespace relay::test
