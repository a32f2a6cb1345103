#!/usr/bin/python3
"""relayd measured side by side with the ingest ceiling, carbon-c-relay and socat (stdlib only).

    tests/bench/compare.py [BUILD_DIR=build/release] [--quick] [--json out.json]

With the same generator (relay_gen) and sinks (relay_sink), one after another, for every message
size: the ceiling (relay_ceiling: recvmmsg and discard), relayd with 1 and 2 destinations in lp32le
and line framing, carbon-c-relay (forward cluster, 2 destinations) and socat (1 destination).
For each: the highest offered rate at which every destination gets >= 99.9 % of the messages,
CPU per message, peak RSS, and latency at 10 % and 50 % of relayd's rate; then the queue
microbenchmark and a dead-destination memory run; then pass/fail against the targets.
Every figure is a median over --reps repetitions. Every process started is killed on exit.
See README.md in this directory for what each figure means.
"""
import argparse, atexit, json, os, platform, queue, re, shutil, signal, socket, statistics, subprocess, sys
import tempfile, threading, time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROCS = []  # every child, for cleanup
TMPDIRS = []
SEED = 20240601  # relay_gen --seed base (graphite metric names); rep r uses SEED + r
LOSS_FREE = 0.999  # a trial passes when every destination receives at least this share
GEN_OK = 0.98  # a trial is flagged when the generator achieved less than this share of the offer


# ---------------------------------------------------------------------------------------------
# processes

class Proc:
    """A child in its own process group; stdout/stderr lines collected by threads."""

    def __init__(self, args, name, stdin=subprocess.DEVNULL):
        self.name = name
        self.p = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)
        PROCS.append(self)
        self.out = queue.Queue()
        self.err, self.cv = [], threading.Condition()
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for line in self.p.stdout:
            self.out.put(line.rstrip("\n"))

    def _read_err(self):
        for line in self.p.stderr:
            with self.cv:
                self.err.append(line.rstrip("\n"))
                self.cv.notify_all()

    @property
    def pid(self):
        return self.p.pid

    def next_json(self, timeout, peek=False):
        """The next JSON line on stdout (a peek line when peek, else a result line)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.out.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"{self.name}: no answer within {timeout}s; stderr: {self.err[-5:]}")
            if line.startswith("{"):
                obj = json.loads(line)
                if bool(obj.get("peek")) == peek:
                    return obj

    def wait_err(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for line in self.err:
                    m = re.search(pattern, line)
                    if m:
                        return m
                if deadline - time.monotonic() <= 0 or self.p.poll() is not None:
                    raise RuntimeError(f"{self.name} not ready: {self.err[-10:]}")
                self.cv.wait(0.1)

    def cpu_seconds(self):
        """utime+stime of the whole process (all threads), from /proc/PID/stat."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def status_kb(self, key):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1])
        except FileNotFoundError:
            pass
        return 0

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def stop(self, timeout=10):
        self.signal(signal.SIGTERM)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        time.sleep(0.05)  # let the reader threads take the last lines

    def kill(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.p.wait()


def cleanup():
    for pr in PROCS:
        if pr.p.poll() is None:
            pr.kill()
    for d in TMPDIRS:
        shutil.rmtree(d, ignore_errors=True)


def free_port(kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def udp_bound(port):
    """True once something listens on 127.0.0.1:port/udp (the peers print nothing when ready)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as f:
        return any(line.split()[1] == want for line in list(f)[1:])


def wait_udp(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while not udp_bound(port):
        if time.monotonic() > deadline or proc.p.poll() is not None:
            raise RuntimeError(f"{proc.name} did not bind udp port {port}: {proc.err[-10:]}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# the systems under test: each has .relay (whose CPU and memory count), .counters (processes
# speaking the peek/take signal protocol of relay_sink and relay_ceiling), .port, the generator
# format, and .idle_ms (how long a stream must be quiet before a trial is over)

class Setup:
    gen_format, gen_newline, idle_ms = "seq", False, 300

    def close(self):
        self.relay.stop()
        for c in self.counters:
            c.stop()


def start_sink(bins, framing, fmt, extra=()):
    s = Proc([bins["relay_sink"], "--port", "0", "--framing", framing, "--format", fmt, *extra], "relay_sink")
    return s, s.next_json(10)["port"]


def make_certs():
    """A self-signed P-256 certificate for 127.0.0.1 (its own CA), made with the openssl tool."""
    d = tempfile.mkdtemp(prefix="relay-compare-tls-")
    TMPDIRS.append(d)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", f"{d}/server.key", "-out", f"{d}/server.crt", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return d


class Ceiling(Setup):
    def __init__(self, bins, a, ndest, framing):
        self.relay = Proc([bins["relay_ceiling"], "--port", "0", *(["--gro"] if a.udp_gro else [])], "relay_ceiling")
        self.port = self.relay.next_json(10)["port"]
        self.counters = [self.relay]

    def close(self):
        self.relay.stop()


class Relayd(Setup):
    tls = False  # RelaydTls: tls@ destinations, TLS sinks
    disk = False  # RelaydDisk: the queue in segment files (--data-dir)

    def __init__(self, bins, a, ndest, framing):
        fmt = "graphite" if framing == "line" else "seq"
        self.gen_format = fmt
        pki = make_certs() if self.tls else None
        extra = ["--tls-cert", f"{pki}/server.crt", "--tls-key", f"{pki}/server.key"] if pki else []
        sinks = [start_sink(bins, framing, fmt, extra) for _ in range(ndest)]
        self.counters = [s for s, _ in sinks]
        dests = [f"tls@127.0.0.1:{port}?framing={framing}&ca={pki}/server.crt" if pki else
                 f"tcp@127.0.0.1:{port}?framing={framing}" for _, port in sinks]
        self.relay = Proc([bins["relayd"], "udp@127.0.0.1:0", *dests, "--control", "none", "--stats-interval", "0",
                           "--max-queue-bytes", a.queue_bytes, "--drain-timeout", "2",
                           *(["--udp-gro"] if a.udp_gro else []), *self.disk_args(a)], "relayd")
        self.relay.wait_err(r"relayd ready", 15)
        self.port = int(self.relay.wait_err(r"listening on udp@\S+:(\d+)", 1).group(1))


    def disk_args(self, a):
        if not self.disk:
            return []
        d = tempfile.mkdtemp(prefix="relay-compare-data-", dir=a.data_root)
        TMPDIRS.append(d)
        return ["--data-dir", d, "--max-disk-bytes", "4GiB", "--fsync", a.fsync]


class RelaydDisk(Relayd):
    """relayd with its queue in segment files on disk (--data-dir), written back every second."""
    disk = True


class RelaydTls(Relayd):
    """relayd writing through TLS (verified: the sink's certificate is the CA) to sinks that decrypt."""
    tls = True


class Carbon(Setup):
    """carbon-c-relay: a forward cluster sends every line to every member."""
    gen_format, idle_ms = "graphite", 1500  # it flushes on a timer: lines sit for up to ~1 s

    def __init__(self, bins, a, ndest, framing):
        sinks = [start_sink(bins, "line", "graphite") for _ in range(ndest)]
        self.counters = [s for s, _ in sinks]
        self.port = free_port()
        d = tempfile.mkdtemp(prefix="relay-compare-")
        TMPDIRS.append(d)
        conf = os.path.join(d, "carbon.conf")
        members = " ".join(f"127.0.0.1:{port}" for _, port in sinks)
        with open(conf, "w") as f:
            f.write(f"cluster bench forward {members};\nmatch * send to bench stop;\n"
                    f"listen type linemode 127.0.0.1:{self.port} proto udp;\n")
        # -s: no internal statistics metrics in the stream; -U: the receive buffer relayd gets
        # (capped by net.core.rmem_max for a peer that uses SO_RCVBUF).
        self.relay = Proc(["carbon-c-relay", "-f", conf, "-w", str(a.carbon_workers), "-s", "-U", str(32 << 20)],
                          "carbon-c-relay")
        wait_udp(self.port, self.relay)


class Socat(Setup):
    """socat copies bytes: datagrams end in '\\n' so the line sink can split the stream."""
    gen_newline = True

    def __init__(self, bins, a, ndest, framing):
        sink, sport = start_sink(bins, "line", "seq")
        self.counters = [sink]
        self.port = free_port()
        self.relay = Proc(["socat", "-u", f"UDP-RECV:{self.port},bind=127.0.0.1,rcvbuf={32 << 20}",
                           f"TCP:127.0.0.1:{sport}"], "socat")
        wait_udp(self.port, self.relay)


# (key, label, class, destinations, framing, peer key for the relayd/peer ratio, relayd key of
# the same shape: whose rate sets the 10 % / 50 % load points)
CONFIGS = [
    ("ceiling", "ceiling (recvmmsg+discard)", Ceiling, 0, "-", None, "relayd-1-lp32le"),
    ("relayd-1-lp32le", "relayd", Relayd, 1, "lp32le", "ceiling", "relayd-1-lp32le"),
    ("relayd-2-lp32le", "relayd", Relayd, 2, "lp32le", "ceiling", "relayd-2-lp32le"),
    ("relayd-1-line", "relayd", Relayd, 1, "line", "socat", "relayd-1-line"),
    ("relayd-2-line", "relayd", Relayd, 2, "line", "carbon", "relayd-2-line"),
    # Load points at plain relayd's rates: CPU per message at the same offered rate as plain TCP.
    ("relayd-1-lp32le-disk", "relayd, --data-dir", RelaydDisk, 1, "lp32le", "relayd-1-lp32le", "relayd-1-lp32le"),
    ("relayd-2-lp32le-disk", "relayd, --data-dir", RelaydDisk, 2, "lp32le", "relayd-2-lp32le", "relayd-2-lp32le"),
    ("relayd-1-lp32le-tls", "relayd, tls@ destination", RelaydTls, 1, "lp32le", "relayd-1-lp32le",
     "relayd-1-lp32le"),
    ("carbon", "carbon-c-relay", Carbon, 2, "line", None, "relayd-2-line"),
    ("socat", "socat", Socat, 1, "line", None, "relayd-1-line"),
]


# ---------------------------------------------------------------------------------------------
# trials

def run_gen(bins, setup, size, rate, seconds, seed):
    # Smaller batches at low rates pace more smoothly (latency trials); GSO still applies. A burst
    # of N datagrams leaves in one call, so its last datagram waits behind N-1 others in the
    # relay: at 10 % load bursts of 16 measure the relay, not the generator's burstiness.
    batch = 256 if rate >= 200_000 else 64 if rate >= 100_000 else 16
    args = [bins["relay_gen"], "--target", f"127.0.0.1:{setup.port}", "--size", str(size), "--rate", str(int(rate)),
            "--duration", str(seconds), "--format", setup.gen_format, "--seed", str(seed), "--batch", str(batch)]
    if setup.gen_newline:
        args.append("--newline")
    g = Proc(args, "relay_gen")
    out = g.next_json(seconds + 30)
    g.p.wait()
    return out


def wait_drained(setup, sent, max_wait):
    """Until every destination has everything, or every stream has been quiet for idle_ms."""
    start = time.monotonic()
    while time.monotonic() - start < max_wait:
        peeks = []
        for c in setup.counters:
            c.signal(signal.SIGUSR2)
            peeks.append(c.next_json(5, peek=True))
        if all(p["received"] >= sent for p in peeks):
            return
        waited_ms = 1000 * (time.monotonic() - start)
        if waited_ms >= setup.idle_ms and all(p["idle_ms"] >= setup.idle_ms for p in peeks):
            return
        time.sleep(0.05)


class RelayDied(RuntimeError):
    """The relay under test exited during a trial (carbon-c-relay 3.7.3 segfaults under a multi-Mmsg/s flood)."""


def trial(bins, setup, size, rate, seconds, seed, max_drain=10):
    cpu0 = setup.relay.cpu_seconds()
    g = run_gen(bins, setup, size, rate, seconds, seed)
    if setup.relay.p.poll() is not None:
        raise RelayDied(f"{setup.relay.name} exited with {setup.relay.p.returncode} at {int(rate)} msg/s")
    wait_drained(setup, g["sent"], max_drain)
    cpu = setup.relay.cpu_seconds() - cpu0
    results = []
    for c in setup.counters:
        c.signal(signal.SIGUSR1)
        results.append(c.next_json(5))
    sent = max(g["sent"], 1)
    received = [r["received"] for r in results]
    return {
        "offered": int(rate), "gen_rate": g["rate"], "gen_ok": g["rate"] >= GEN_OK * rate, "sent": g["sent"],
        "received": received, "min_share": min(received) / sent,
        "pass": min(received) >= LOSS_FREE * sent,
        "delivered_rate": min(received) / max(g["seconds"], 1e-9),
        "cpu_us_per_msg": 1e6 * cpu / max(max(received), 1),
        "lat_p50_us": max((r["lat_p50_us"] for r in results if "lat_p50_us" in r), default=None),
        "lat_p99_us": max((r["lat_p99_us"] for r in results if "lat_p99_us" in r), default=None),
        "lat_p999_us": max((r["lat_p999_us"] for r in results if "lat_p999_us" in r), default=None),
        "gaps": sum(r.get("gaps", 0) for r in results), "reordered": sum(r.get("reordered", 0) for r in results),
    }


def log_trial(key, size, t, tag=""):
    print(f"    {key:>16} {size:>5}B {tag:<6} offered {t['offered']:>9} gen {t['gen_rate']:>9.0f}"
          f"{'' if t['gen_ok'] else '!'} min-share {100 * t['min_share']:7.3f}% "
          f"{'PASS' if t['pass'] else 'fail'} cpu {t['cpu_us_per_msg']:.2f}us/msg p99 {t['lat_p99_us']}us",
          file=sys.stderr, flush=True)


def search(bins, holder, key, size, a, rep, guess):
    """Highest loss-free rate. First repetition: an overload probe gives the start, then a ladder
    (x1.4 up / x0.6 down) until it brackets, then bisection. Later repetitions start at the median
    so far with finer steps, so they spend fewer trials. Rates are what the generator achieved
    (never above the offer): when it cannot reach the offer and the relay still loses nothing,
    the relay's limit lies above the generator's and the search stops (gen_limited)."""
    tlist, crashes = [], []
    if guess is None:
        probe = holder.run(lambda st: trial(bins, st, size, a.probe_rate, a.probe_seconds, SEED + rep), crashes)
        if probe:
            log_trial(key, size, probe, "probe")
        guess = max(probe["delivered_rate"] * 0.9 if probe else a.start_rate, 1000)
        budget, up, down = a.trials_first, 1.4, 0.6
    else:
        budget, up, down = a.trials_later, 1.1, 0.9
    lo, hi, best, r, limited = 0, None, None, guess, False
    done = 0
    # Nothing passed yet: up to 2 more trials going down, so a noisy repetition still yields a
    # rate instead of 0 (which would drag the median).
    while done < budget or (lo == 0 and done < budget + 2):
        done += 1
        t = holder.run(lambda st: trial(bins, st, size, r, a.trial_seconds, SEED + rep), crashes)
        if t is None:  # the relay died: count it as a failure at this rate (it was restarted)
            hi = r if hi is None else min(hi, r)
            r = hi * (down if done < budget else min(down, 0.7)) if not lo else (lo + hi) / 2
            continue
        log_trial(key, size, t)
        tlist.append(t)
        achieved = min(r, t["gen_rate"])
        if t["pass"]:
            if achieved > lo:
                lo, best = achieved, t
            if not t["gen_ok"]:
                limited = True
                break
        else:
            hi = achieved if hi is None else min(hi, achieved)
        if hi is not None and lo and hi / lo < 1.06:
            break
        step = down if done < budget else min(down, 0.7)
        r = r * up if hi is None else (hi * step if not lo else (lo + hi) / 2)
    return {"rate": lo, "gen_limited": limited, "best": best, "trials": tlist, "crashes": crashes}


class Holder:
    """Owns the current setup; restarts it when the relay under test dies during a trial."""

    def __init__(self, make):
        self.make = make
        self.setup = make()

    def run(self, fn, crashes):
        try:
            return fn(self.setup)
        except RelayDied as e:
            print(f"    {e}; restarting it", file=sys.stderr, flush=True)
            crashes.append(str(e))
            self.close()
            self.setup = self.make()
            return None

    def close(self):
        for pr in [self.setup.relay, *self.setup.counters]:
            if pr.p.poll() is None:
                pr.stop()
            else:
                pr.p.wait()


def load_points(bins, holder, size, a, rep, ref_rate):
    """Latency and CPU at 10 % and 50 % of the relayd rate of the same shape."""
    out, crashes = {}, []
    for frac in (0.1, 0.5):
        rate = max(ref_rate * frac, 1000)
        t = holder.run(lambda st: trial(bins, st, size, rate, a.load_seconds, SEED + rep), crashes)
        if t:
            log_trial("", size, t, f"@{int(frac * 100)}%")
            out[f"{int(frac * 100)}"] = t
    out["crashes"] = crashes
    return out


# ---------------------------------------------------------------------------------------------
# phases

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def selected_runs(a):
    """(rep, size, config) for every selected config, repetitions outermost so drift on a shared
    box hits all configs alike."""
    for rep in range(a.reps):
        for size in a.sizes:
            for config in CONFIGS:
                if config[0] in a.only:
                    yield rep, size, config


def run_fresh(bins, a, config, measure):
    """Starts the config's relay (and sinks), runs measure(holder), adds the relay's VmHWM, stops it."""
    _, _, cls, ndest, framing, _, _ = config
    holder = Holder(lambda: cls(bins, a, ndest, framing))
    try:
        out = measure(holder)
        out["hwm_kb"] = holder.setup.relay.status_kb("VmHWM")
    finally:
        holder.close()
    return out


def measure_rates(bins, a, res):
    """Phase 1: the loss-free rate of every config."""
    for rep, size, config in selected_runs(a):
        key = config[0]
        entry = res.setdefault(f"{key}/{size}", {"key": key, "size": size, "reps": []})
        guess = med([r["rate"] for r in entry["reps"]]) or None
        s = run_fresh(bins, a, config, lambda holder: search(bins, holder, key, size, a, rep, guess))
        entry["reps"].append(s)
        print(f"  rep {rep + 1} {key} {size}B: loss-free {s['rate']:.0f} msg/s", file=sys.stderr, flush=True)


def measure_loads(bins, a, res):
    """Phase 2: latency/CPU at fixed fractions of relayd's (median) loss-free rate."""
    for rep, size, config in selected_runs(a):
        key, ref = config[0], config[6]
        ref_entry = res.get(f"{ref}/{size}")
        if ref_entry is None:
            continue
        ref_rate = med([r["rate"] for r in ref_entry["reps"]]) or 10000
        lp = run_fresh(bins, a, config, lambda holder: load_points(bins, holder, size, a, rep, ref_rate))
        res[f"{key}/{size}"].setdefault("loads", []).append(lp)


def summarize(res):
    """Medians over repetitions, per config and size."""
    out = {}
    for name, e in res.items():
        reps = e["reps"]
        best = [r["best"] for r in reps if r["best"]]
        s = {"key": e["key"], "size": e["size"], "loss_free_rate": med([r["rate"] for r in reps]),
             "loss_free_rates": [r["rate"] for r in reps],
             "gen_limited": sum(1 for r in reps if r["gen_limited"]) * 2 > len(reps),
             "gen_rate": med([b["gen_rate"] for b in best]),
             "gen_flagged": sum(1 for r in reps for t in r["trials"] if not t["gen_ok"]),
             "delivered_rate": med([b["delivered_rate"] for b in best]),
             "cpu_us_per_msg_at_max": med([b["cpu_us_per_msg"] for b in best]),
             # What one fully busy core would carry at that cost: the relay's own capacity when
             # the generator, not the relay, ran out first.
             "msgs_per_cpu_second": med([1e6 / b["cpu_us_per_msg"] for b in best if b["cpu_us_per_msg"] > 0]),
             "peak_rss_kb_search": med([r["hwm_kb"] for r in reps]),
             "trials": sum(len(r["trials"]) for r in reps),
             "crashes": sum(len(r["crashes"]) for r in reps) + sum(len(lp["crashes"]) for lp in e.get("loads", []))}
        for lp_key in ("10", "50"):
            lps = [lp[lp_key] for lp in e.get("loads", []) if lp_key in lp]
            s[f"at{lp_key}"] = {k: med([t[k] for t in lps]) for k in
                                ("offered", "gen_rate", "min_share", "cpu_us_per_msg", "lat_p50_us", "lat_p99_us",
                                 "lat_p999_us")} if lps else None
            if lps:
                s[f"at{lp_key}"]["gen_flagged"] = sum(1 for t in lps if not t["gen_ok"])
        s["peak_rss_kb_load"] = med([lp["hwm_kb"] for lp in e.get("loads", [])])
        out[name] = s
    return out


def dead_destination(bins, a, summary):
    """relayd, one live and one dead destination, at half its loss-free rate: RSS against the budget."""
    size = a.sizes[0]
    ref = summary.get(f"relayd-2-lp32le/{size}", {}).get("loss_free_rate") or 100000
    rate = int(ref * 0.5)
    sink, sport = start_sink(bins, "lp32le", "seq")
    dead = free_port(socket.SOCK_STREAM)
    relay = Proc([bins["relayd"], "udp@127.0.0.1:0", f"tcp@127.0.0.1:{sport}", f"tcp@127.0.0.1:{dead}",
                  "--control", "none", "--stats-interval", "0", "--max-queue-bytes", a.queue_bytes,
                  "--drain-timeout", "1"], "relayd")
    try:
        relay.wait_err(r"relayd ready", 15)
        port = int(relay.wait_err(r"listening on udp@\S+:(\d+)", 1).group(1))
        gen = Proc([bins["relay_gen"], "--target", f"127.0.0.1:{port}", "--size", str(size), "--rate", str(rate),
                    "--duration", str(a.dead_seconds), "--seed", str(SEED)], "relay_gen")
        max_rss = 0
        while gen.p.poll() is None:
            max_rss = max(max_rss, relay.status_kb("VmRSS"))
            time.sleep(0.5)
        g = gen.next_json(10)
        live_only = Setup()
        live_only.counters, live_only.idle_ms = [sink], 500
        wait_drained(live_only, g["sent"], 20)
        sink.signal(signal.SIGUSR1)
        live = sink.next_json(5)
        hwm = relay.status_kb("VmHWM")
    finally:
        relay.stop()
        sink.stop()
    dead_stats = {}
    for line in relay.err:
        m = re.search(r"\bstats destination=tcp@127\.0\.0\.1:%d (.*)" % dead, line)
        if m:
            dead_stats = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
    budget_kb = parse_size(a.queue_bytes) // 1024
    return {"size": size, "rate": rate, "seconds": a.dead_seconds, "sent": g["sent"], "gen_rate": g["rate"],
            "live_received": live["received"], "live_gaps": live["gaps"], "max_vmrss_kb": max_rss, "vmhwm_kb": hwm,
            "budget_kb": budget_kb, "limit_kb": budget_kb + 64 * 1024,
            "dead_dropped_lagging": dead_stats.get("dropped_lagging"),
            "pass": max_rss <= budget_kb + 64 * 1024 and live["received"] >= g["sent"] and live["gaps"] == 0}


def parse_size(text):
    m = re.fullmatch(r"(\d+)\s*([kKmMgG]?)(i?[bB])?", text.strip())
    if not m:
        sys.exit(f"cannot parse size {text!r}")
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


def queue_microbench(bins, a):
    out = subprocess.run([bins["queue_bench"], "--benchmark_format=json", f"--benchmark_min_time={a.qb_min_time}",
                          f"--benchmark_repetitions={a.reps}", "--benchmark_report_aggregates_only=true"],
                         capture_output=True, text=True, timeout=600, start_new_session=True)
    data = json.loads(out.stdout)
    res = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median":
            continue
        name = b["run_name"].replace("/manual_time", "")
        res[name] = b.get("ns_per_msg", b.get("ns_per_msg_per_cursor"))
    return res


# ---------------------------------------------------------------------------------------------
# report

def fmt_rate(v, limited=False):
    if v is None:
        return "-"
    text = f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.0f}k"
    return (">=" if limited else "") + text


def fmt_lat(at):
    if not at or at["lat_p50_us"] is None:
        return "-"
    return f"{at['lat_p50_us']:.0f}/{at['lat_p99_us']:.0f}/{at['lat_p999_us']:.0f}"


def ratio(a, b):
    return None if not a or not b else a / b


def fmt_ratio(v, starred=False):
    return "-" if v is None else f"{v:.2f}x" + ("*" if starred else "")


def cpu50(s):
    return s["at50"]["cpu_us_per_msg"] if s and s.get("at50") else None


def cpu_ratio_strict(s, ceil):
    """relayd's CPU/msg at 50 % load over the ceiling's, taking the ceiling's cheaper figure of the two:
    at 50 % load and at its own loss-free maximum (full recvmmsg batches, its best case). relayd paces its
    polls under load (--coalesce-us) and the ceiling does not, so at 50 % load alone the ceiling can cost
    more per message than relayd; the ceiling's best case keeps the comparison honest."""
    candidates = [v for v in (cpu50(ceil), ceil.get("cpu_us_per_msg_at_max")) if v] if ceil else []
    return ratio(cpu50(s), min(candidates)) if candidates else None


def rate_ratio(s, other):
    """relayd's loss-free rate over another's; starred when either hit the generator's limit."""
    if not other:
        return None, False
    return ratio(s["loss_free_rate"], other["loss_free_rate"]), s["gen_limited"] or other["gen_limited"]


HEADER = (f"{'size':>5} {'system':<27} {'dst':>3} {'framing':<7} {'lossfree/s':>10} {'gen/s':>8} {'deliv/s':>8} "
          f"{'us/msg@max':>10} {'us/msg@50%':>10} {'msg/cpu-s':>9} {'RSS MiB':>7} {'lat us p50/p99/p99.9 @10%':>26} "
          f"{'@50%':>20} {'rate/ceil':>9} {'rate/peer':>9} {'cpu/ceil':>8} {'cpu/peer':>8}")


def table_row(summary, size, key, label, ndest, framing, peer):
    s = summary[f"{key}/{size}"]
    ceil = summary.get(f"ceiling/{size}")
    pe = summary.get(f"{peer}/{size}") if peer and peer != "ceiling" else None
    flag = "!" if s["gen_flagged"] else ""
    row = (f"{size:>5} {label:<27} {ndest:>3} {framing:<7} {fmt_rate(s['loss_free_rate'], s['gen_limited']):>10} "
           f"{fmt_rate(s['gen_rate']) + flag:>8} {fmt_rate(s['delivered_rate']):>8} "
           f"{s['cpu_us_per_msg_at_max'] or 0:>10.2f} {cpu50(s) or 0:>10.2f} {fmt_rate(s['msgs_per_cpu_second']):>9} "
           f"{(s['peak_rss_kb_search'] or 0) / 1024:>7.1f} {fmt_lat(s.get('at10')):>26} {fmt_lat(s.get('at50')):>20} ")
    if key.startswith("relayd"):
        row += (f"{fmt_ratio(*rate_ratio(s, ceil)):>9} {fmt_ratio(*rate_ratio(s, pe)):>9} "
                f"{fmt_ratio(cpu_ratio_strict(s, ceil)):>8} {fmt_ratio(ratio(cpu50(s), cpu50(pe))):>8}")
    return row


def print_table(summary, a):
    print("\n" + HEADER)
    for size in a.sizes:
        for key, label, _, ndest, framing, peer, _ in CONFIGS:
            if f"{key}/{size}" in summary:
                print(table_row(summary, size, key, label, ndest, framing, peer))
        print()
    for name, s in summary.items():
        if s["crashes"]:
            print(f"note: {name}: the relay died {s['crashes']} time(s) during trials and was restarted (see JSON)")
    print("lossfree/s: highest rate (generator-achieved, median of reps) with >= 99.9 % on every destination; "
          "'>=': the generator ran out first (lower bound). gen/s: generator's achieved rate in that trial, '!' = "
          "some trial below 98 % of its offer. us/msg: relay CPU (utime+stime, all threads) per message received, "
          "at the loss-free rate and at 50 % of relayd's rate; msg/cpu-s = 1e6 / us/msg@max. RSS: VmHWM over the "
          "search. lat: send->TCP arrival, worst destination, at 10 %/50 % of the loss-free rate of relayd of the "
          "same shape (peer's own loss shows in the JSON). ratios: relayd / ceiling and relayd / peer "
          "(1 dest line: socat; 2 dest line: carbon-c-relay; tls@: plain relayd-1-lp32le); "
          "cpu ratios: relayd at 50 % load over the ceiling's "
          "cheaper figure (at 50 % load or at its maximum), peers at 50 % load; '*' = a generator-limited "
          "rate is involved (the ratio is not a measurement of the relay).")


def issue_target(size, key):
    """Issue #4 sets its targets for 64-byte messages and 2 destinations; other shapes are reported
    against the same bars but marked as extra (pass/miss instead of PASS/FAIL)."""
    return size == 64 and key.startswith("relayd-2")


def targets(summary, qb, dead, a):
    checks = []
    for size in a.sizes:
        ceil, carbon = summary.get(f"ceiling/{size}"), summary.get(f"carbon/{size}")
        for key in ("relayd-1-lp32le", "relayd-2-lp32le", "relayd-1-line", "relayd-2-line"):
            s = summary.get(f"{key}/{size}")
            if not s:
                continue
            extra = not issue_target(size, key)
            if ceil:
                r, star = rate_ratio(s, ceil)
                checks.append((f"{size}B {key}: loss-free rate >= 60% of ceiling", r is not None and r >= 0.6,
                               fmt_ratio(r, star), extra))
                c = cpu_ratio_strict(s, ceil)
                checks.append((f"{size}B {key}: CPU/msg at 50% load <= 1.5x ceiling's best",
                               c is not None and c <= 1.5, fmt_ratio(c), extra))
            if s.get("at10"):
                p99 = s["at10"]["lat_p99_us"]
                checks.append((f"{size}B {key}: p99 latency at 10% load < 1 ms", p99 < 1000, f"{p99:.0f} us",
                               extra))
        s2 = summary.get(f"relayd-2-line/{size}")
        if s2 and carbon:
            r, star = rate_ratio(s2, carbon)
            checks.append((f"{size}B relayd-2-line: loss-free rate >= 8x carbon-c-relay", r is not None and r >= 8,
                           fmt_ratio(r, star), size != 64))
    if qb:
        if "BM_Append" in qb:
            checks.append(("queue append < 20 ns/msg", qb["BM_Append"] < 20, f"{qb['BM_Append']:.2f} ns", False))
        for name, v in sorted(qb.items()):
            if name.startswith("BM_Consume"):
                checks.append((f"queue consume {name.split('/')[-1]} < 10 ns/msg/cursor", v < 10, f"{v:.2f} ns", False))
    if dead:
        checks.append((f"dead destination {dead['seconds']:.0f}s: max VmRSS <= budget+64MiB, live loses nothing",
                       dead["pass"], f"RSS {dead['max_vmrss_kb'] / 1024:.0f} MiB <= {dead['limit_kb'] / 1024:.0f} MiB,"
                       f" live {dead['live_received']}/{dead['sent']}, gaps {dead['live_gaps']}", False))
    print("targets (PASS/FAIL: issue #4's targets; pass/miss: other shapes held to the same bars):")
    for name, ok, detail, extra in checks:
        verdict = ("pass" if ok else "miss") if extra else ("PASS" if ok else "FAIL")
        print(f"  {verdict}  {name:<66} {detail}")
    return [{"target": n, "pass": ok, "value": d, "issue_target": not extra} for n, ok, d, extra in checks]


def environment(bins):
    def version(args):
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    try:
        rev = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe", "--always",
                              "--dirty"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = "?"
    try:
        socat = subprocess.run(["socat", "-V"], capture_output=True, text=True).stdout.splitlines()
    except OSError:
        socat = []
    return {"kernel": platform.release(), "cpus": os.cpu_count(), "loadavg": os.getloadavg(), "relay_rev": rev,
            "carbon-c-relay": version(["carbon-c-relay", "-v"]),
            "socat": next((l.strip() for l in socat if "version" in l), "?")}


# ---------------------------------------------------------------------------------------------

def ensure_peers(only):
    """Installs the peers this run needs (carbon, socat) when they are missing."""
    wanted = (("carbon-c-relay", "carbon-c-relay", "carbon"), ("socat", "socat", "socat"))
    missing = [p for p, b, config in wanted if config in only and not shutil.which(b)]
    if not missing:
        return
    print(f"installing {' '.join(missing)} with apt-get", file=sys.stderr, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    # The package starts a system carbon-c-relay where it can; it would compete for CPU.
    subprocess.run(["systemctl", "stop", "carbon-c-relay"], capture_output=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir", nargs="?", default="build/release")
    ap.add_argument("--quick", action="store_true", help="one repetition, short trials, 20 s dead run (~2-3 min)")
    ap.add_argument("--json", help="write every figure (and every trial) to this file")
    ap.add_argument("--sizes", default="64,1000")
    ap.add_argument("--reps", type=int, help="repetitions (medians); default 3, quick 1")
    ap.add_argument("--trial-seconds", type=float, help="search trial length; default 1.0, quick 0.8")
    ap.add_argument("--load-seconds", type=float, help="10%%/50%% load trial length; default 1.0, quick 0.8")
    ap.add_argument("--dead-seconds", type=float, help="dead-destination run; default 300, quick 20")
    ap.add_argument("--queue-bytes", default="64MiB", help="relayd --max-queue-bytes (the memory target's budget)")
    ap.add_argument("--carbon-workers", type=int, default=2, help="carbon-c-relay -w (this box: 2 cores)")
    ap.add_argument("--only", default=",".join(c[0] for c in CONFIGS), help="comma list of configs to run")
    ap.add_argument("--udp-gro", action="store_true",
                    help="relayd with --udp-gro and the ceiling with --gro (GSO trains arrive coalesced); not the "
                         "issue's comparison, which has the kernel receive datagram by datagram")
    ap.add_argument("--data-root", default="/var/tmp",
                    help="where the --data-dir configs make their data directory (a disk, not tmpfs)")
    ap.add_argument("--fsync", default="interval", choices=["never", "interval", "always"],
                    help="relayd --fsync for the --data-dir configs")
    ap.add_argument("--skip-dead", action="store_true")
    ap.add_argument("--skip-queue-bench", action="store_true")
    a = ap.parse_args()
    a.sizes = [int(s) for s in a.sizes.split(",")]
    a.only = set(a.only.split(","))
    q = a.quick
    a.reps = a.reps or (1 if q else 3)
    a.trial_seconds = a.trial_seconds or (0.6 if q else 1.0)
    a.load_seconds = a.load_seconds or (0.6 if q else 0.8)
    a.dead_seconds = a.dead_seconds if a.dead_seconds is not None else (20 if q else 300)
    a.trials_first, a.trials_later = (3, 2) if q else (4, 2)
    # The probe asks for more than any relay here takes; 1M rather than "unlimited" because
    # carbon-c-relay crashes under a multi-million msg/s flood (it is restarted if it does).
    a.probe_rate, a.probe_seconds, a.start_rate = 1_000_000, 0.5, 20_000
    a.qb_min_time = 0.1 if q else 0.3
    return a


def main():
    a = parse_args()
    t0 = time.monotonic()
    b = a.build_dir
    bins = {"relayd": os.path.join(b, "daemon", "relayd"), "queue_bench": os.path.join(b, "tests", "bench", "queue_bench")}
    for t in ("relay_gen", "relay_sink", "relay_ceiling"):
        bins[t] = os.path.join(b, "tests", "bench", t)
    for name, path in bins.items():
        if not os.access(path, os.X_OK):
            sys.exit(f"{name} not found at {path}; build it (ninja -C {b} relayd relay_gen relay_sink relay_ceiling "
                     f"queue_bench)")
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ensure_peers(a.only)
    env = environment(bins)
    print(f"environment: {json.dumps(env)}", flush=True)
    res = {}
    measure_rates(bins, a, res)
    measure_loads(bins, a, res)
    summary = summarize(res)
    qb = None if a.skip_queue_bench else queue_microbench(bins, a)
    dead = None if a.skip_dead else dead_destination(bins, a, summary)
    print(f"\nsettings: reps={a.reps} (medians) trial={a.trial_seconds}s load-trial={a.load_seconds}s "
          f"loss-free=>{100 * LOSS_FREE:.1f}% on every destination, queue budget {a.queue_bytes}, "
          f"carbon-c-relay -w {a.carbon_workers}, seeds {SEED}+rep")
    print_table(summary, a)
    if qb:
        print("queue microbenchmark (median of reps): " + ", ".join(f"{k} {v:.2f} ns/msg" for k, v in sorted(qb.items())))
    if dead:
        print(f"dead destination: {dead['seconds']:.0f}s at {dead['rate']} msg/s ({dead['size']} B), budget "
              f"{a.queue_bytes}: max VmRSS {dead['max_vmrss_kb'] / 1024:.1f} MiB (VmHWM {dead['vmhwm_kb'] / 1024:.1f}),"
              f" live {dead['live_received']}/{dead['sent']} gaps {dead['live_gaps']}, dead dropped_lagging "
              f"{dead['dead_dropped_lagging']}")
    checks = targets(summary, qb, dead, a)
    elapsed = time.monotonic() - t0
    print(f"\nwall time {elapsed:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"environment": env, "settings": {k: (sorted(v) if isinstance(v, set) else v)
                                                        for k, v in vars(a).items()},
                       "summary": summary, "queue_bench": qb, "dead_destination": dead, "targets": checks,
                       "raw": res, "wall_seconds": elapsed}, f, indent=1)


if __name__ == "__main__":
    main()
