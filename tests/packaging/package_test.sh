#!/usr/bin/env bash
# The .deb: built with cpack from the build directory ($1) into a temporary directory, then
#  - its contents: both programs, the unit, the conffile, the sysctl file, the .proto, the docs
#    (and man pages when help2man made them);
#  - its metadata: dependencies computed by dpkg-shlibdeps (libc6, gRPC, libsystemd0, ...) plus
#    adduser, the conffile, the maintainer scripts;
#  - unpacked into a temporary root (dpkg -x): that relayd checks the packaged config, and runs
#    with it (ports moved to free ones) until "relayd ready", then stops on SIGTERM with exit 0;
#  - systemd-analyze verify on the unpacked unit, when systemd-analyze exists (Debian: systemd).
set -euo pipefail
build=${1:?build directory}
source_dir=${2:?source directory}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/relayd-package-test.XXXXXX")
relayd_pid=
cleanup() {
  [ -n "$relayd_pid" ] && kill -KILL "$relayd_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1 || {
  cat "$tmp/cpack.log" >&2
  fail "cpack failed"
}
debs=("$tmp"/out/relayd_*.deb)
[ -f "${debs[0]}" ] || fail "cpack made no relayd_*.deb: $(ls "$tmp/out")"
deb=${debs[0]}
echo "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

dpkg-deb -c "$deb" >"$tmp/contents"
for path in ./usr/bin/relayd ./usr/bin/relayctl ./lib/systemd/system/relayd.service ./etc/relayd/relayd.toml \
  ./usr/lib/sysctl.d/60-relayd.conf ./usr/share/relayd/proto/relay/v1/relay.proto \
  ./usr/share/doc/relayd/README.md ./usr/share/doc/relayd/CONFIG.md; do
  grep -q " $path\$" "$tmp/contents" || fail "$path is not in the package:
$(cat "$tmp/contents")"
done
if command -v help2man >/dev/null; then
  for path in ./usr/share/man/man8/relayd.8.gz ./usr/share/man/man1/relayctl.1.gz; do
    grep -q " $path\$" "$tmp/contents" || fail "$path is not in the package (help2man is installed)"
  done
fi
grep -E ' \./usr/bin/relayd$' "$tmp/contents" | grep -q '^-rwxr-xr-x root/root' ||
  fail "relayd is not an executable owned by root: $(grep ' ./usr/bin/relayd$' "$tmp/contents")"

dpkg-deb -I "$deb" >"$tmp/info"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libc6 'libgrpc++' libprotobuf libsystemd0 libssl3 libev4 adduser; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
grep -Eq 'libc6 \(>= [0-9.]+\)' <<<"$depends" || fail "Depends has no versioned libc6 (shlibs not used?): $depends"
[ "$(dpkg-deb -f "$deb" Package)" = relayd ] || fail "package name is not relayd"
for member in conffiles postinst prerm postrm; do
  grep -Eq "^ +[0-9]+ bytes, +[0-9]+ lines +\*? *$member" "$tmp/info" || fail "no $member in the control archive:
$(cat "$tmp/info")"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/relayd/relayd.toml ||
  fail "/etc/relayd/relayd.toml is not a conffile"
for script in postinst prerm postrm; do
  dpkg-deb --ctrl-tarfile "$deb" | tar -xO "./$script" >"$tmp/$script"
  sh -n "$tmp/$script" || fail "$script does not parse"
done

root=$tmp/root
dpkg -x "$deb" "$root"
"$root/usr/bin/relayd" --check-config "$root/etc/relayd/relayd.toml" >"$tmp/check.out" 2>&1 ||
  fail "the packaged relayd rejects the packaged config: $(cat "$tmp/check.out")"
grep -q "is valid" "$tmp/check.out" || fail "unexpected --check-config output: $(cat "$tmp/check.out")"
echo "$(cat "$tmp/check.out")"

# Run it with the packaged config; the command line moves the listener and control to free
# ports (flags win over the file), so the test cannot collide with anything on 2008 or 50051.
"$root/usr/bin/relayd" --config "$root/etc/relayd/relayd.toml" udp@127.0.0.1:0 --control 127.0.0.1:0 \
  >"$tmp/relayd.log" 2>&1 &
relayd_pid=$!
for _ in $(seq 1 150); do  # up to 15 s for the ready line; the condition is what is awaited
  grep -q "relayd ready" "$tmp/relayd.log" && break
  kill -0 "$relayd_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q "relayd ready" "$tmp/relayd.log" || fail "the unpacked relayd did not get ready: $(cat "$tmp/relayd.log")"
kill -TERM "$relayd_pid"
rc=0
wait "$relayd_pid" || rc=$?
relayd_pid=
[ "$rc" -eq 0 ] || fail "the unpacked relayd exited $rc on SIGTERM: $(cat "$tmp/relayd.log")"
echo "unpacked relayd ran with the packaged config and stopped cleanly"

if command -v systemd-analyze >/dev/null; then
  # The unpacked unit with its paths pointed into the unpacked tree (verify checks that ExecStart
  # and friends exist; --root would also need a whole systemd tree in it); everything else as is.
  mkdir "$tmp/unit"
  sed -e "s|/usr/bin/relayd|$root/usr/bin/relayd|g" -e "s|/etc/relayd/relayd.toml|$root/etc/relayd/relayd.toml|g" \
    "$root/lib/systemd/system/relayd.service" >"$tmp/unit/relayd.service"
  systemd-analyze verify "$tmp/unit/relayd.service" >"$tmp/verify.log" 2>&1 || {
    cat "$tmp/verify.log" >&2
    fail "systemd-analyze verify rejects relayd.service"
  }
  if [ -s "$tmp/verify.log" ]; then
    cat "$tmp/verify.log" >&2
    fail "systemd-analyze verify warns about relayd.service"
  fi
  echo "systemd-analyze verify: relayd.service is clean"
else
  echo "systemd-analyze not installed: unit not verified"
fi
echo "PASS"
