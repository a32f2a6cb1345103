#!/usr/bin/env bash
# Sets up (Debian packages), builds the release preset and starts relayd in the foreground.
# With no arguments relayd listens on udp@127.0.0.1:2008 and serves gRPC control on
# 127.0.0.1:50051; any arguments are passed to relayd (see relayd --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target relayd relayctl
exec build/release/daemon/relayd "$@"
