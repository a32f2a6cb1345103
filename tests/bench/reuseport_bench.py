#!/usr/bin/python3
"""Several relayd sharing one UDP port (udp@...?reuseport=1, issue #13) against one, measured.

    tests/bench/reuseport_bench.py [BUILD_DIR=build/release]

For each offered rate (600 k, 1 M, 1.4 M msg/s of 64 B from 4 relay_gen processes, 4 s), first one
relayd, then two sharing the port, each with its own relay_sink: prints what was sent, what the
sinks received (and its share) and relayd's CPU per delivered message. On a host with few cores
the generators, sinks and relays share them, and a second relayd gains nothing.
"""
import json, os, signal, socket, subprocess, sys, time
B = sys.argv[1] if len(sys.argv) > 1 else "build/release"
def free_port():
    s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); p=s.getsockname()[1]; s.close(); return p
def run(nrelay, rate, gens=4, secs=4):
    port=free_port(); sinks=[]; relays=[]
    for i in range(nrelay):
        s=subprocess.Popen([B+"/tests/bench/relay_sink","--port","0"],stdout=subprocess.PIPE,text=True)
        sp=json.loads(s.stdout.readline())["port"]; sinks.append(s)
        r=subprocess.Popen([B+"/daemon/relayd",f"udp@127.0.0.1:{port}?reuseport=1",f"tcp@127.0.0.1:{sp}","--control","none","--stats-interval","0"],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
        relays.append(r)
    time.sleep(1)
    c0=[sum(int(x) for x in open(f"/proc/{r.pid}/stat").read().rsplit(")",1)[1].split()[11:13]) for r in relays]
    g=[subprocess.Popen([B+"/tests/bench/relay_gen","--target",f"127.0.0.1:{port}","--rate",str(rate/gens),"--duration",str(secs),"--size","64"],stdout=subprocess.PIPE,stderr=subprocess.DEVNULL,text=True) for _ in range(gens)]
    sent=0
    for p in g:
        out,_=p.communicate()
        for line in out.splitlines():
            if line.startswith("{"):
                d=json.loads(line); sent+=int(d.get("sent",d.get("messages",0)))
    time.sleep(1.5)
    c1=[sum(int(x) for x in open(f"/proc/{r.pid}/stat").read().rsplit(")",1)[1].split()[11:13]) for r in relays]
    for r in relays: r.send_signal(signal.SIGTERM)
    for r in relays: r.wait()
    got=0
    for s in sinks:
        s.send_signal(signal.SIGTERM); out,_=s.communicate()
        for line in out.splitlines():
            if line.startswith("{") and '"received"' in line: got+=json.loads(line)["received"]
    cpu=(sum(c1)-sum(c0))/os.sysconf("SC_CLK_TCK")
    return sent, got, cpu
for rate in [600000, 1000000, 1400000]:
    for n in [1,2]:
        sent,got,cpu=run(n,rate)
        print(f"relayd x{n} offered {rate}/s: sent {sent} delivered {got} ({100*got/max(1,sent):.2f}%) relayd CPU {cpu:.1f}s = {cpu/max(1,got)*1e6:.2f} us/msg", flush=True)
