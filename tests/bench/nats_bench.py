#!/usr/bin/python3
"""relayd into NATS JetStream (nats@, issue 13) next to TCP, measured.

    tests/bench/nats_bench.py [BUILD_DIR=build/release] [MESSAGES=200000] [RATE=100000]

For each destination — tcp@ into relay_sink, nats@ into one nats-server (R1 stream) and into a
3-node cluster (R3 stream), all on loopback — relay_gen sends MESSAGES datagrams of 100 B at RATE
msg/s into one relayd; the run ends when the destination holds all of them (relay_sink's count,
or the stream's message count asked through the JetStream API). Prints the delivery rate (first
send to last stored), relayd's CPU per message, the NATS servers' CPU per message, and relayd's
exit-report counters for the destination. nats-server is Debian's /usr/sbin/nats-server (or
$NATS_SERVER). On a host with few cores, generator, relayd and servers share them.
"""
import json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time

B = sys.argv[1] if len(sys.argv) > 1 else "build/release"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
RATE = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
SIZE = 100
NATS = os.environ.get("NATS_SERVER") or shutil.which("nats-server") or "/usr/sbin/nats-server"
TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TCK


def js_request(port, subject, body=b"", timeout=3.0):
    """One JetStream API request over the plain NATS protocol; the reply's JSON, or None."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None
    try:
        f = s.makefile("rb")
        f.readline()  # INFO
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
                  b"SUB _INBOX.bench 1\r\n" + f"PUB {subject} _INBOX.bench {len(body)}\r\n".encode() + body + b"\r\n")
        while True:
            line = f.readline()
            if not line:
                return None
            if line.startswith(b"PING"):
                s.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG"):
                return json.loads(f.read(int(line.split()[-1]) + 2)[:-2])
            elif line.startswith(b"HMSG"):  # a status (503: no responders)
                f.read(int(line.split()[-1]) + 2)
                return None
    except (OSError, ValueError):
        return None
    finally:
        s.close()


def wait(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)  # polling period
    raise SystemExit(f"nats_bench: timed out waiting for {what}")


def start_nats(nodes, tmp):
    ports = [(free_port(), free_port()) for _ in range(nodes)]
    procs = []
    for i, (cp, rp) in enumerate(ports):
        conf = f"{tmp}/n{i}.conf"
        with open(conf, "w") as c:
            c.write(f'server_name: n{i}\nlisten: 127.0.0.1:{cp}\njetstream {{ store_dir: "{tmp}/n{i}" }}\n')
            if nodes > 1:
                routes = "\n".join(f"nats-route://127.0.0.1:{r}" for j, (_, r) in enumerate(ports) if j != i)
                c.write(f"cluster {{ name: bench\n listen: 127.0.0.1:{rp}\n routes: [\n{routes}\n] }}\n")
        procs.append(subprocess.Popen([NATS, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    cfg = json.dumps({"name": "BENCH", "subjects": ["bench.x"], "storage": "file", "num_replicas": nodes,
                      "duplicate_window": 120 * 10**9}).encode()
    wait(lambda: (r := js_request(ports[0][0], "$JS.API.STREAM.CREATE.BENCH", cfg)) is not None and "error" not in r,
         30, "the stream")
    return procs, [p for p, _ in ports]


def stream_msgs(ports):
    for p in ports:
        r = js_request(p, "$JS.API.STREAM.INFO.BENCH")
        if r and "state" in r:
            return r["state"]["messages"]
    return None


def run(kind):
    tmp = tempfile.mkdtemp(prefix="nats-bench-")
    servers = []
    try:
        servers, ports = start_nats(1 if kind == "nats R1" else 3, tmp)
        dest = "nats@" + ",".join(f"127.0.0.1:{p}" for p in ports) + "/bench.x"
        udp = free_port()
        relayd = subprocess.Popen([B + "/daemon/relayd", f"udp@127.0.0.1:{udp}", dest, "--control", "none",
                                   "--stats-interval", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)  # relayd binds and connects; nothing to await from outside without a control port
        r0, s0 = cpu(relayd.pid), sum(cpu(p.pid) for p in servers)
        t0 = time.time()
        subprocess.run([B + "/tests/bench/relay_gen", "--target", f"127.0.0.1:{udp}", "--rate", str(RATE),
                              "--count", str(N), "--size", str(SIZE)], capture_output=True, text=True)
        wait(lambda: (stream_msgs(ports) or 0) >= N, 300, f"{N} messages in the stream")
        t1 = time.time()
        r1, s1 = cpu(relayd.pid), sum(cpu(p.pid) for p in servers)
        relayd.send_signal(signal.SIGTERM)
        out, _ = relayd.communicate(timeout=60)
        got = stream_msgs(ports)
        stats = {}
        for line in out.splitlines():
            m = re.search(r"stats destination=\S+ (.*)", line)
            if m:
                stats = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
        res = {"kind": kind, "sent": N, "delivered": got, "rate": N / (t1 - t0), "relayd_us": (r1 - r0) / N * 1e6,
               "server_us": (s1 - s0) / N * 1e6}
        res["stats"] = {k: stats.get(k) for k in ("sent_messages", "publish_failures", "lag_messages")}
        return res
    finally:
        for p in servers:
            p.kill(); p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def run_tcp_cpu():
    """relayd's CPU for tcp@, measured like the nats@ runs (relayd alive while counting)."""
    sink = subprocess.Popen([B + "/tests/bench/relay_sink", "--port", "0", "--expect", str(N)],
                                stdout=subprocess.PIPE, text=True)
    port = json.loads(sink.stdout.readline())["port"]
    udp = free_port()
    relayd = subprocess.Popen([B + "/daemon/relayd", f"udp@127.0.0.1:{udp}", f"tcp@127.0.0.1:{port}", "--control",
                               "none", "--stats-interval", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    r0, t0 = cpu(relayd.pid), time.time()
    subprocess.run([B + "/tests/bench/relay_gen", "--target", f"127.0.0.1:{udp}", "--rate", str(RATE), "--count",
                    str(N), "--size", str(SIZE)], capture_output=True)
    out, _ = sink.communicate(timeout=120)  # --expect: exits when all N arrived
    t1, r1 = time.time(), cpu(relayd.pid)
    relayd.send_signal(signal.SIGTERM); relayd.wait()
    got = max([json.loads(l).get("received", 0) for l in out.splitlines() if l.startswith("{")] or [0])
    return {"kind": "tcp", "sent": N, "delivered": got, "rate": N / (t1 - t0), "relayd_us": (r1 - r0) / N * 1e6,
            "server_us": None, "stats": {}}


print(f"nats_bench: {N} messages of {SIZE} B offered at {RATE}/s into one relayd (nproc={os.cpu_count()})")
for res in [run_tcp_cpu(), run("nats R1"), run("nats R3")]:
    srv = f"{res['server_us']:.2f} us/msg" if res.get("server_us") is not None else "-"
    print(f"{res['kind']:8} delivered {res['delivered']}/{res['sent']}  {res['rate']:9.0f} msg/s  "
          f"relayd CPU {res['relayd_us']:.2f} us/msg  server CPU {srv}  {res['stats']}", flush=True)
