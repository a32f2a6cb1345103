#!/usr/bin/env bash
# Installs the Debian 12 packages relay needs to build and test. Idempotent: a no-op when
# everything is present. Needs root (or sudo) only when something is missing. `prometheus` is
# there for promtool, which the metrics tests run; help2man, dpkg-dev (dpkg-shlibdeps)
# and systemd (systemd-analyze) make and check the .deb and its unit.
set -euo pipefail
packages=(
  g++ cmake ninja-build ccache pkg-config git clang-format-14 clang-14 libclang-rt-14-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libev-dev libxxhash-dev libcli11-dev libspdlog-dev libfmt-dev libssl-dev libtomlplusplus-dev prometheus-cpp-dev
  prometheus
  libsystemd-dev help2man dpkg-dev systemd
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-grpcio python3-grpc-tools
  librdkafka-dev
  libnats-dev nats-server
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
