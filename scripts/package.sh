#!/usr/bin/env bash
# Builds relayd's Debian package from a clean build directory (default build/package, removed
# first): the release preset without tests, then cpack. Prints the .deb's path. Install it with
# `apt install ./build/package/relayd_*.deb` (it creates the relayd user and enables the unit).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
dir=${1:-build/package}
rm -rf "$dir"
cmake --preset release -B "$dir" -DRELAY_BUILD_TESTS=OFF >/dev/null
cmake --build "$dir" -j"${JOBS:-$(nproc)}"
(cd "$dir" && cpack -G DEB >/dev/null)
ls "$PWD/$dir"/relayd_*.deb
