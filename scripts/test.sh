#!/usr/bin/env bash
# Sets up (Debian packages), builds and runs every test of the given presets (default: release).
#   scripts/test.sh                 # release: every test
#   scripts/test.sh tsan asan       # the sanitizer presets (tsan runs the tests labelled tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(release)
for preset in "${presets[@]}"; do
  echo "=== ${preset}: configure, build, test ==="
  started=$SECONDS
  cmake --workflow --preset "${preset}"
  echo "=== ${preset}: done in $((SECONDS - started)) s ==="
done
