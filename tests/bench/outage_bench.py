#!/usr/bin/python3
"""A destination down for a long time while relayd keeps its queue on disk (issue #12), measured.

    tests/bench/outage_bench.py [BUILD_DIR=build/release] [--minutes 10] [--rate 100000] [--size 64]
                                [--max-queue-bytes 64MiB] [--max-disk-bytes 1GiB] [--data-root /var/tmp]

relayd (--data-dir in a fresh directory under --data-root) relays relay_gen's stream to two
relay_sinks: one live all along, one down for the whole outage. Every second it samples relayd's
RSS and the live destination's lag (relayd's stats line). When the generator stops, the late sink
comes up; the time until it has every message is the replay. Then relayd stops (SIGTERM) and its
exit report gives the drops. Prints: peak RSS against the memory budget, the live destination's
largest lag, drops by reason, the late sink's order check, the replay rate, and the disk used per
message. Exit status 0 when nothing was dropped and both sinks got every message in order.

1 GiB of 64-byte messages (68 bytes a record on disk, plus commit entries) is about 15 million
messages: 2.6 minutes at 100,000 msg/s. A longer outage needs a larger --max-disk-bytes, or the
budget skips the oldest (dropped_lagging), as it should.
"""
import argparse, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def last_json(text):
    for line in reversed(text.splitlines()):
        if line.startswith("{") and '"received"' in line:
            return json.loads(line)
    return None


def stats_fields(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


class Relayd:
    def __init__(self, binary, args):
        self.p = subprocess.Popen([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines, self.cv = [], threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()

    def wait_line(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for line in self.lines:
                    m = re.search(pattern, line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    sys.exit(f"relayd: no line matching {pattern!r} within {timeout} s:\n" + "\n".join(self.lines[-20:]))
                self.cv.wait(left)

    def last_stats(self, subject):
        with self.cv:
            for line in reversed(self.lines):
                if f" stats {subject}" in line:
                    return stats_fields(line)
        return {}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir", nargs="?", default="build/release")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=100_000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--max-queue-bytes", default="64MiB")
    ap.add_argument("--max-disk-bytes", default="1GiB")
    ap.add_argument("--fsync", default="interval", choices=["never", "interval", "always"])
    ap.add_argument("--data-root", default="/var/tmp", help="where the data directory is made (a disk, not tmpfs)")
    ap.add_argument("--drop-caches", action="store_true",
                    help="before the replay, write back and drop the page cache (root): the backlog is read from "
                         "the disk, not from memory")
    a = ap.parse_args()
    bins = {n: os.path.join(a.build_dir, p) for n, p in
            [("relayd", "daemon/relayd"), ("gen", "tests/bench/relay_gen"), ("sink", "tests/bench/relay_sink")]}
    data = tempfile.mkdtemp(prefix="relay-outage-", dir=a.data_root)
    procs = []
    try:
        live = subprocess.Popen([bins["sink"], "--port", "0"], stdout=subprocess.PIPE, text=True)
        procs.append(live)
        live_port = json.loads(live.stdout.readline())["port"]
        late_port = free_port()
        relayd = Relayd(bins["relayd"], [
            "udp@127.0.0.1:0", f"tcp@127.0.0.1:{live_port}", f"tcp@127.0.0.1:{late_port}", "--control", "none",
            "--stats-interval", "1", "--reconnect-max", "0.2", "--data-dir", data, "--max-queue-bytes",
            a.max_queue_bytes, "--max-disk-bytes", a.max_disk_bytes, "--fsync", a.fsync])
        procs.append(relayd.p)
        relayd.wait_line(r"relayd ready", 15)
        udp = int(relayd.wait_line(r"listening on udp@\S+:(\d+)", 1).group(1))
        seconds = a.minutes * 60
        count = int(a.rate * seconds)
        print(f"outage: {count} messages of {a.size} B at {a.rate:.0f}/s for {seconds:.0f} s, memory budget "
              f"{a.max_queue_bytes}, disk budget {a.max_disk_bytes}, --fsync {a.fsync}, data in {data}", flush=True)
        cpu0 = cpu_seconds(relayd.p.pid)
        gen = subprocess.Popen([bins["gen"], "--target", f"127.0.0.1:{udp}", "--rate", str(a.rate), "--count",
                                str(count), "--size", str(a.size)], stdout=subprocess.DEVNULL)
        procs.append(gen)
        peak_rss, peak_lag, started = 0, 0, time.monotonic()
        while gen.poll() is None:
            time.sleep(1)
            peak_rss = max(peak_rss, rss_bytes(relayd.p.pid))
            peak_lag = max(peak_lag, int(relayd.last_stats(f"destination=tcp@127.0.0.1:{live_port}").get("lag_messages", 0)))
            elapsed = time.monotonic() - started
            if int(elapsed) % 30 == 0:
                q = relayd.last_stats("queue")
                print(f"  {elapsed:5.0f} s: RSS {peak_rss >> 20} MiB peak, disk {int(q.get('disk_bytes_in_use', 0)) >> 20} "
                      f"MiB, live lag {peak_lag} peak", flush=True)
        ingest_cpu = cpu_seconds(relayd.p.pid) - cpu0
        time.sleep(1.5)  # the last batches reach the queue; one more stats line
        q = relayd.last_stats("queue")
        received = int(q.get("tail", 0)) - int(q.get("recovered_messages", 0))
        disk_used = int(q.get("disk_bytes_in_use", 0))
        if a.drop_caches:
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            print(f"page cache dropped; relayd RSS now {rss_bytes(relayd.p.pid) / 2**20:.1f} MiB", flush=True)
        replay_start = time.monotonic()
        late = subprocess.Popen([bins["sink"], "--port", str(late_port), "--expect", str(received), "--idle-exit", "30"],
                                stdout=subprocess.PIPE, text=True)
        procs.append(late)
        late_out, _ = late.communicate(timeout=max(600, received / 20_000))
        replay = time.monotonic() - replay_start
        relayd.p.send_signal(signal.SIGTERM)
        relayd.p.wait(timeout=60)
        live.send_signal(signal.SIGTERM)
        live_out, _ = live.communicate(timeout=10)
        late_r, live_r = last_json(late_out) or {}, last_json(live_out) or {}
        dest = relayd.last_stats(f"destination=tcp@127.0.0.1:{late_port}")
        lst = next((stats_fields(l) for l in reversed(relayd.lines) if " stats listener=" in l), {})
        print(f"received by relayd: {received} of {count} sent (kernel_drops {lst.get('kernel_drops')}, "
              f"dropped_queue_full {lst.get('dropped_queue_full')})")
        print(f"peak RSS during the outage: {peak_rss / 2**20:.1f} MiB (memory budget {a.max_queue_bytes})")
        print(f"disk in use at the end of the outage: {disk_used / 2**20:.1f} MiB = {disk_used / max(1, received):.1f} "
              f"bytes per message (whole segments)")
        print(f"live destination: {live_r.get('received')} messages, gaps {live_r.get('gaps')}, reordered "
              f"{live_r.get('reordered')}, largest lag seen {peak_lag}")
        print(f"late destination: {late_r.get('received')} messages, gaps {late_r.get('gaps')}, reordered "
              f"{late_r.get('reordered')}, dropped_lagging {dest.get('dropped_lagging')}")
        print(f"replay: {received} messages in {replay:.1f} s = {received / replay:.0f} msg/s")
        print(f"relayd CPU during the outage: {ingest_cpu:.1f} s = {ingest_cpu / max(1, received) * 1e6:.2f} us/msg")
        ok = (late_r.get("received") == received and live_r.get("received") == received and late_r.get("gaps") == 0
              and late_r.get("reordered") == 0 and dest.get("dropped_lagging") == "0")
        print("outage_bench:", "nothing lost, in order" if ok else "LOSS or disorder (see above)")
        return 0 if ok else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
