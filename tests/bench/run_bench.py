#!/usr/bin/python3
"""Throughput/CPU/memory benchmark of relayd with relay_gen and relay_sink (stdlib only).

Builds nothing: takes the binaries from a build directory (default build/release). Every process
it starts is killed on exit, whatever happens. See README.md in this directory.
"""
import argparse, json, os, re, signal, socket, subprocess, sys, threading, time, urllib.request

PROCS = []  # every child we started, for cleanup
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cleanup(*_):
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    PROCS.append(p)
    return p


class Relayd:
    """relayd with its stderr collected by a thread (so the pipe never fills)."""

    def __init__(self, binary, listen, dests, extra):
        args = [binary, "--control", "none", "--stats-interval", "0", *extra, listen, *dests]
        self.p = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines, self.cv = [], threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        line = self.wait_for(r"relayd ready", 15)
        if line is None:
            sys.exit("relayd did not become ready:\n" + "\n".join(self.lines[-20:]))
        self.port = int(re.search(r"listening on udp@\S+:(\d+)", "\n".join(self.lines)).group(1))

    def _read(self):
        for line in self.p.stderr:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for l in self.lines:
                    if re.search(pattern, l):
                        return l
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None:
                    return None
                self.cv.wait(left)

    def cpu_seconds(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def status_kb(self, key):
        with open(f"/proc/{self.p.pid}/status") as f:
            for l in f:
                if l.startswith(key + ":"):
                    return int(l.split()[1])
        return 0

    def stop(self, timeout=30):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        time.sleep(0.1)  # let the reader thread take the last lines

    def stats(self, kind):
        """Last 'stats kind=ADDR k=v ...' line per address, as {addr: {k: v}}."""
        out = {}
        for l in self.lines:
            m = re.search(r"\bstats %s=(\S+) (.*)" % kind, l)
            if m:
                out[m.group(1)] = dict(kv.split("=", 1) for kv in m.group(2).split() if "=" in kv)
        return out


def start_sink(binary, idle_exit):
    p = spawn([binary, "--port", "0", "--framing", "lp32le", "--idle-exit", str(idle_exit)],
              stdout=subprocess.PIPE, text=True)
    port = json.loads(p.stdout.readline())["port"]
    return p, port


def finish_sink(p, timeout):
    """The sink's result line: it exits by itself after --idle-exit; SIGTERM if that takes too long."""
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=10)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_gen(binary, port, size, rate, seconds):
    out = subprocess.run([binary, "--target", f"127.0.0.1:{port}", "--size", str(size), "--rate", str(rate),
                          "--duration", str(seconds)], capture_output=True, text=True, timeout=seconds + 60)
    return json.loads(out.stdout.strip().splitlines()[-1])


class Scraper:
    """GET /metrics every `interval` seconds on its own thread, as a Prometheus server would."""

    def __init__(self, relayd, interval):
        line = relayd.wait_for(r"metrics on http://\S+/metrics", 5)
        self.url = re.search(r"(http://\S+/metrics)", line).group(1)
        self.interval, self.count, self.stop = interval, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(self.interval):
            with urllib.request.urlopen(self.url, timeout=5) as r:
                r.read()
            self.count += 1

    def finish(self):
        self.stop.set()
        self.thread.join()
        return self.count


def rate_scenario(bins, ndest, rate, a):
    sinks = [start_sink(bins["relay_sink"], 2) for _ in range(ndest)]
    extra = ["--max-queue-bytes", a.max_queue_bytes] + (["--metrics", "127.0.0.1:0"] if a.scrape_interval else [])
    relayd = Relayd(bins["relayd"], "udp@127.0.0.1:0", [f"tcp@127.0.0.1:{port}" for _, port in sinks], extra)
    scraper = Scraper(relayd, a.scrape_interval) if a.scrape_interval else None
    cpu0 = relayd.cpu_seconds()
    gen = run_gen(bins["relay_gen"], relayd.port, a.size, rate, a.seconds)
    if scraper:
        print(f"  ({scraper.finish()} scrapes of /metrics during the run)", flush=True)
    results = [finish_sink(p, a.seconds + 30) for p, _ in sinks]
    cpu = relayd.cpu_seconds() - cpu0
    hwm = relayd.status_kb("VmHWM")
    relayd.stop()
    listener = next(iter(relayd.stats("listener").values()), {})
    return gen, results, cpu, hwm, listener


def print_rates(bins, a):
    print(f"{'dests':>5} {'offered':>9} {'gen/s':>9} {'delivered/s per dest':>24} {'loss%':>7} "
          f"{'kdrops':>8} {'cpu us/msg':>10} {'peakRSS MB':>10} {'p99 us':>8}")
    for ndest in a.dests:
        for rate in a.rates:
            gen, res, cpu, hwm, listener = rate_scenario(bins, ndest, rate, a)
            sent = max(gen["sent"], 1)
            delivered = "/".join(f"{r.get('rate', 0):.0f}" for r in res)
            loss = max(100.0 * (1 - r.get("received", 0) / sent) for r in res)
            p99 = max(r.get("lat_p99_us", 0) for r in res)
            print(f"{ndest:>5} {rate:>9} {gen['rate']:>9.0f} {delivered:>24} {loss:>7.2f} "
                  f"{listener.get('kernel_drops', '?'):>8} {1e6 * cpu / sent:>10.2f} {hwm / 1024:>10.1f} {p99:>8}",
                  flush=True)


def print_dead(bins, a):
    live, live_port = start_sink(bins["relay_sink"], 2)
    dead = dead_port()
    relayd = Relayd(bins["relayd"], "udp@127.0.0.1:0", [f"tcp@127.0.0.1:{live_port}", f"tcp@127.0.0.1:{dead}"],
                    ["--max-queue-bytes", a.max_queue_bytes])
    gen = run_gen(bins["relay_gen"], relayd.port, a.size, a.dead_rate, a.dead_seconds)
    res = finish_sink(live, 30)
    hwm = relayd.status_kb("VmHWM")
    relayd.stop()
    dests = relayd.stats("destination")
    dead_stats = next((v for k, v in dests.items() if k.endswith(f":{dead}")), {})
    loss = 100.0 * (1 - res.get("received", 0) / max(gen["sent"], 1))
    print(f"\ndead destination for {a.dead_seconds}s at {a.dead_rate} msg/s ({a.size} B): "
          f"peak RSS {hwm / 1024:.1f} MB vs --max-queue-bytes {a.max_queue_bytes}; live loss {loss:.2f}%; "
          f"dead dropped_lagging {dead_stats.get('dropped_lagging', '?')}, lag {dead_stats.get('lag_messages', '?')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("build_dir", nargs="?", default="build/release")
    ap.add_argument("--rates", default="100000,200000,400000,600000")
    ap.add_argument("--dests", default="1,2")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--max-queue-bytes", default="64M")
    ap.add_argument("--dead-seconds", type=int, default=60)
    ap.add_argument("--dead-rate", type=int, default=100000)
    ap.add_argument("--skip-dead", action="store_true")
    ap.add_argument("--scrape-interval", type=float, default=0,
                    help="serve --metrics and scrape it every this many seconds during each rate run (0: off)")
    a = ap.parse_args()
    a.rates = [int(r) for r in a.rates.split(",")]
    a.dests = [int(d) for d in a.dests.split(",")]
    bins = {"relayd": os.path.join(a.build_dir, "daemon", "relayd"),
            "relay_gen": os.path.join(a.build_dir, "tests", "bench", "relay_gen"),
            "relay_sink": os.path.join(a.build_dir, "tests", "bench", "relay_sink")}
    for name, path in bins.items():
        if not os.access(path, os.X_OK):
            sys.exit(f"{name} not found at {path}; build it first (cmake --build --preset release)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        print_rates(bins, a)
        if not a.skip_dead:
            print_dead(bins, a)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
