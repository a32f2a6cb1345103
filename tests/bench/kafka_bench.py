#!/usr/bin/python3
"""relayd into Kafka (librdkafka's mock cluster) next to relayd into TCP, measured.

    tests/bench/kafka_bench.py [BUILD_DIR=build/release] [--rates 50000,100000,200000] [--seconds 4]
                               [--options key=field] [--brokers 3 --partitions 6 --replication 3] [--group N]

For each offered rate (graphite lines of 64 B from relay_gen), one relayd with one destination:
first tcp@ into relay_sink, then kafka@ into kafka_mock_broker (a 3-broker mock cluster, a topic of
6 partitions with replication 3, the producer idempotent with acks=all as relayd always sets it).
With --group N, a third destination: a hash@ group (key=field) of N relay_sinks. Prints what
relayd received, what the destination stored (the sink's count; the topic's high
watermarks, i.e. what the brokers acknowledged), the delivered rate (stored over the time from the
first send to the last store) and relayd's CPU (utime+stime from /proc/PID/stat) per stored
message. librdkafka's threads are relayd's, so their CPU is counted; the mock brokers' is not (they
run in kafka_mock_broker). On a host with few cores the generator, the mock brokers and relayd
share them: the figures are relative, kafka@ next to tcp@ on the same machine and moment.
"""
import argparse, json, os, re, signal, socket, subprocess, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build/release")
ap.add_argument("--rates", default="50000,100000,200000")
ap.add_argument("--seconds", type=float, default=4)
ap.add_argument("--options", default="key=field")
ap.add_argument("--brokers", type=int, default=3)
ap.add_argument("--partitions", type=int, default=6)
ap.add_argument("--replication", type=int, default=3)
ap.add_argument("--group", type=int, default=0, help="also a hash@ group of N relay_sinks (key=field)")
a = ap.parse_args()
B = a.build
TICK = os.sysconf("SC_CLK_TCK")

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK

class Relayd:
    """relayd with its log read on a thread; waits (bounded) for 'relayd ready'."""
    def __init__(self, port, dest):
        self.p = subprocess.Popen([B + "/daemon/relayd", f"udp@127.0.0.1:{port}", dest, "--control", "none",
                                   "--stats-interval", "0", "--drain-timeout", "30"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []; self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(15): sys.exit("relayd did not get ready:\n" + "".join(self.lines))
    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)
            if "relayd ready" in line: self.ready.set()
    def stop(self):
        self.p.send_signal(signal.SIGTERM); self.p.wait(60)
        time.sleep(0.1)  # the reader thread takes the last lines (the pipe is closed by now)
        stats, received = {}, "?"
        for line in self.lines:
            m = re.search(r"stats destination=(\S+) (.*)", line)
            if m: stats = dict(kv.split("=", 1) for kv in m.group(2).split() if "=" in kv)
            m = re.search(r"stats listener=\S+ (.*)", line)
            if m: received = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)["received_messages"]
        stats["_received"] = received
        return stats

def generate(port, rate):
    g = subprocess.run([B + "/tests/bench/relay_gen", "--target", f"127.0.0.1:{port}", "--rate", str(rate),
                        "--duration", str(a.seconds), "--size", "64", "--format", "graphite"],
                       capture_output=True, text=True, timeout=a.seconds + 60)
    return int(json.loads([l for l in g.stdout.splitlines() if l.startswith("{")][-1])["sent"])

def settle(count, want, timeout=60):
    """Polls count() until it reaches `want` or stops growing for 2 s; returns (count, time of last growth)."""
    last, t_last, deadline = count(), time.monotonic(), time.monotonic() + timeout
    while last < want and time.monotonic() < deadline and time.monotonic() - t_last < 2:
        time.sleep(0.02)  # polling period of the count
        n = count()
        if n != last: last, t_last = n, time.monotonic()
    return last, t_last

def run_sinks(rate, n):
    """One tcp@ relay_sink (n == 0), or a hash@ group of n of them; counts what the sinks received."""
    sinks = [subprocess.Popen([B + "/tests/bench/relay_sink", "--port", "0", "--format", "graphite"],
                              stdout=subprocess.PIPE, text=True) for _ in range(max(1, n))]
    ports = [json.loads(s.stdout.readline())["port"] for s in sinks]
    dest = f"tcp@127.0.0.1:{ports[0]}" if n == 0 else "hash@" + ",".join(f"127.0.0.1:{p}" for p in ports)
    port = free_port(); r = Relayd(port, dest)
    def peek(sink):
        sink.send_signal(signal.SIGUSR2)
        while True:
            d = json.loads(sink.stdout.readline())
            if d.get("peek"): return d["received"]
    count = lambda: sum(peek(s) for s in sinks)
    c0, t0 = cpu_seconds(r.p.pid), time.monotonic()
    sent = generate(port, rate)
    got, t1 = settle(count, sent)
    c1 = cpu_seconds(r.p.pid)
    stats = r.stop()
    for s in sinks: s.send_signal(signal.SIGTERM); s.communicate()
    return sent, stats, got, t1 - t0, c1 - c0

def run_tcp(rate): return run_sinks(rate, 0)
def run_group(rate): return run_sinks(rate, a.group)

def run_kafka(rate):
    mb = subprocess.Popen([B + "/tests/bench/kafka_mock_broker", "--brokers", str(a.brokers), "--partitions",
                           str(a.partitions), "--replication", str(a.replication)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = json.loads(mb.stdout.readline())
    port = free_port()
    r = Relayd(port, f"kafka@{info['bootstrap']}/{info['topic']}" + (f"?{a.options}" if a.options else ""))
    def count():
        mb.stdin.write("count\n"); mb.stdin.flush()
        return json.loads(mb.stdout.readline())["stored"]
    c0, t0 = cpu_seconds(r.p.pid), time.monotonic()
    sent = generate(port, rate)
    got, t1 = settle(count, sent)
    c1 = cpu_seconds(r.p.pid)
    stats = r.stop(); mb.stdin.close(); mb.wait(30)
    return sent, stats, got, t1 - t0, c1 - c0

print(f"# {os.cpu_count()} CPUs; {a.seconds:g} s per run; graphite lines of 64 B; kafka@ options: {a.options or '-'}; "
      f"mock cluster: {a.brokers} brokers, {a.partitions} partitions, replication {a.replication}")
print(f"{'destination':<12}{'offered/s':>10}{'sent':>10}{'received':>10}{'stored':>10}{'stored/s':>10}"
      f"{'cpu_s':>8}{'us/msg':>8}  counters")
for rate in [int(x) for x in a.rates.split(",")]:
    runs = [("tcp", run_tcp), ("kafka", run_kafka)] + ([(f"hash@x{a.group}", run_group)] if a.group else [])
    for name, run in runs:
        sent, st, got, secs, cpu = run(rate)
        counters = " ".join(f"{k}={st.get(k, '?')}" for k in ("sent_messages", "publish_failures", "resent_unacked",
                                                             "dropped_lagging"))
        print(f"{name:<12}{rate:>10}{sent:>10}{st.get('_received', '?'):>10}{got:>10}{got / secs:>10.0f}"
              f"{cpu:>8.2f}{cpu / max(1, got) * 1e6:>8.2f}  {counters}", flush=True)
