#!/usr/bin/env python3
"""Smoke test of the benchmark harness (ctest: compare_smoke): a few seconds of compare.py with the
ceiling and relayd (2 destinations, lp32le, 64 B; 1 destination with --data-dir), checking that it runs end to end, writes its
JSON and that relayd moved traffic loss-free at a modest rate. Performance itself is not judged here:
CI machines are too noisy; docs/PERFORMANCE.md is where figures live.

    compare_smoke.py BUILD_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

MIN_RATE = 10_000  # msg/s: far below any healthy build, far above a broken one


def main():
    build = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "smoke.json")
        cmd = [sys.executable, os.path.join(here, "compare.py"), build, "--quick", "--only",
               "ceiling,relayd-2-lp32le,relayd-1-lp32le-disk",
               "--sizes", "64", "--skip-dead", "--skip-queue-bench", "--json", out]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        print(run.stdout[-3000:])
        if run.returncode != 0:
            sys.exit(f"compare.py exited {run.returncode}:\n{run.stderr[-3000:]}")
        with open(out) as f:
            data = json.load(f)
    summary = data["summary"]
    failures = []
    for key in ("ceiling/64", "relayd-2-lp32le/64", "relayd-1-lp32le-disk/64"):
        row = summary.get(key)
        if row is None:
            failures.append(f"{key}: missing from the summary")
        elif not row["loss_free_rate"] or row["loss_free_rate"] < MIN_RATE:
            failures.append(f"{key}: loss-free rate {row['loss_free_rate']} < {MIN_RATE} msg/s")
    relayd = summary.get("relayd-2-lp32le/64") or {}
    if not relayd.get("at10") or relayd["at10"].get("lat_p99_us") is None:
        failures.append("relayd-2-lp32le/64: no latency figures at 10 % load")
    if not data["targets"]:
        failures.append("no targets judged")
    if failures:
        sys.exit("compare_smoke: " + "; ".join(failures))
    print("compare_smoke: ok")


if __name__ == "__main__":
    main()
