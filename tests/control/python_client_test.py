#!/usr/bin/python3
"""End-to-end test of relayd's gRPC control API from a Python client.

Usage: python_client_test.py RELAYD [RELAYCTL] [unittest options]

Generates Python stubs from proto/ into a temporary directory (grpc_tools.protoc), starts its
own relayd with --control on a free loopback port, a TCP sink and a UDP sender, then drives the
API as a third-party client would: add a destination while traffic flows, see the sink receive
it, read stats, watch stats, remove it. With RELAYCTL, also checks relayctl's JSON output and
exit codes against the same relayd.
"""

import json
import pathlib
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import grpc
from grpc_tools import protoc

REPO = pathlib.Path(__file__).resolve().parents[2]
PROTO_DIR = REPO / "proto"
RELAYD = None
RELAYCTL = None
STUB_DIR = None
pb = None  # relay.v1.relay_pb2
pb_grpc = None  # relay.v1.relay_pb2_grpc
health_pb = None
health_grpc = None

TIMEOUT = 10.0  # seconds any single expectation may take


def generate_stubs():
    """Compiles relay.proto and health.proto into STUB_DIR and imports them."""
    global STUB_DIR, pb, pb_grpc, health_pb, health_grpc
    STUB_DIR = tempfile.mkdtemp(prefix="relay_pystubs.")
    # health.proto is copied to a neutral path: generated as grpc/health/v1/health_pb2.py it
    # would shadow the installed `grpc` package. Its proto package (the wire name) is unchanged.
    src = pathlib.Path(STUB_DIR) / "src"
    (src / "relay_health").mkdir(parents=True)
    shutil.copy(PROTO_DIR / "grpc/health/v1/health.proto", src / "relay_health/health.proto")
    well_known = pathlib.Path(protoc.__file__).parent / "_proto"
    includes = [f"-I{PROTO_DIR}", f"-I{src}", f"-I{well_known}", "-I/usr/include"]
    for proto in ("relay/v1/relay.proto", "relay_health/health.proto"):
        rc = protoc.main(["protoc", *includes, f"--python_out={STUB_DIR}", f"--grpc_python_out={STUB_DIR}", proto])
        if rc != 0:
            raise RuntimeError(f"grpc_tools.protoc failed on {proto}")
    sys.path.insert(0, STUB_DIR)
    from relay.v1 import relay_pb2, relay_pb2_grpc  # noqa: E402
    from relay_health import health_pb2, health_pb2_grpc  # noqa: E402
    pb, pb_grpc, health_pb, health_grpc = relay_pb2, relay_pb2_grpc, health_pb2, health_pb2_grpc


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class TcpSink:
    """Accepts connections on 127.0.0.1:<ephemeral> and decodes lp32le frames from them."""

    def __init__(self):
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.port = self.server.getsockname()[1]
        self.lock = threading.Lock()
        self.frames = []
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        buf = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 4:
                    (size,) = struct.unpack("<I", buf[:4])
                    if len(buf) < 4 + size:
                        break
                    with self.lock:
                        self.frames.append(buf[4 : 4 + size])
                    buf = buf[4 + size :]

    def received(self):
        with self.lock:
            return list(self.frames)

    def close(self):
        self.server.close()


class RelaydProcess:
    def __init__(self, udp_port, control_port):
        self.control = f"127.0.0.1:{control_port}"
        self.listen = f"udp@127.0.0.1:{udp_port}"
        self.log = tempfile.TemporaryFile(mode="w+")
        args = [RELAYD, "--control", self.control, "--stats-interval", "0", "--reconnect-min", "0.05",
                "--reconnect-max", "0.2", "--log-level", "debug", self.listen]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class ControlApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.udp_port = free_port(socket.SOCK_DGRAM)
        cls.relayd = RelaydProcess(cls.udp_port, free_port(socket.SOCK_STREAM))
        # Connect only once relayd says it is ready: a channel whose first attempts are refused
        # backs off for seconds (gRPC's reconnect backoff), which on a loaded machine outlasts
        # the wait below.
        try:
            wait_for(lambda: "relayd ready" in cls.relayd.output(), "relayd to log that it is ready", timeout=3 * TIMEOUT)
        except AssertionError:
            cls.relayd.stop()
            sys.stderr.write("---- relayd output ----\n" + cls.relayd.output())
            raise
        cls.channel = grpc.insecure_channel(cls.relayd.control)
        cls.stub = pb_grpc.RelayControlStub(cls.channel)
        cls.health = health_grpc.HealthStub(cls.channel)
        try:
            wait_for(cls._serving, "relayd's health service to report SERVING")
        except AssertionError:
            cls.relayd.stop()
            sys.stderr.write("---- relayd output ----\n" + cls.relayd.output())
            raise
        cls.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    @classmethod
    def tearDownClass(cls):
        cls.udp.close()
        cls.channel.close()
        rc = cls.relayd.stop()
        if rc != 0:
            sys.stderr.write(f"relayd exited {rc}\n---- relayd output ----\n" + cls.relayd.output())

    @classmethod
    def _serving(cls):
        try:
            resp = cls.health.Check(health_pb.HealthCheckRequest(service=""), timeout=1)
            return resp.status == health_pb.HealthCheckResponse.SERVING
        except grpc.RpcError:
            return False

    def setUp(self):
        self.sink = TcpSink()
        self.address = f"tcp@127.0.0.1:{self.sink.port}"

    def tearDown(self):
        for d in self.stub.ListDestinations(pb.ListDestinationsRequest(), timeout=5).destinations:
            self.stub.RemoveDestination(pb.RemoveDestinationRequest(id=d.id), timeout=5)
        self.sink.close()

    def add(self, address=None, **kwargs):
        return self.stub.AddDestination(pb.AddDestinationRequest(address=address or self.address, **kwargs), timeout=5)

    def get(self, dest_id):
        return self.stub.GetDestination(pb.GetDestinationRequest(id=dest_id), timeout=5)

    def send(self, payloads):
        for p in payloads:
            self.udp.sendto(p, ("127.0.0.1", self.udp_port))

    def assert_code(self, code, call, *args, **kwargs):
        with self.assertRaises(grpc.RpcError) as cm:
            call(*args, timeout=5, **kwargs)
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        return cm.exception.details()

    # ---- tests ----

    def test_health_of_the_control_service(self):
        resp = self.health.Check(health_pb.HealthCheckRequest(service="relay.v1.RelayControl"), timeout=5)
        self.assertEqual(resp.status, health_pb.HealthCheckResponse.SERVING)

    def test_reflection_lists_the_services(self):
        # Raw bytes, no reflection stubs needed: ServerReflectionRequest{list_services: ""} is
        # field 7, length 0. The response names every service.
        call = self.channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
        reply = b"".join(call(iter([b"\x3a\x00"]), timeout=5))
        for service in (b"relay.v1.RelayControl", b"grpc.health.v1.Health"):
            self.assertIn(service, reply)

    def test_info(self):
        info = self.stub.GetInfo(pb.GetInfoRequest(), timeout=5)
        self.assertRegex(info.version, r"^\d+\.\d+\.\d+")
        self.assertGreater(info.uptime_seconds, 0)
        self.assertIn(self.relayd.listen, [l.address for l in info.listeners])
        self.assertGreater(info.limits.max_queue_bytes, 0)
        self.assertGreater(info.limits.max_message_bytes, 0)
        self.assertGreater(info.limits.max_destinations, 0)

    def test_added_destination_receives_traffic(self):
        dest = self.add()
        self.assertGreater(dest.id, 0)
        self.assertEqual(dest.address, self.address)
        self.assertEqual(dest.framing, pb.FRAMING_LP32LE)
        wait_for(lambda: self.get(dest.id).state == pb.DESTINATION_STATE_CONNECTED, "the destination to connect")
        payloads = [f"message {i}".encode() for i in range(100)]
        self.send(payloads)
        wait_for(lambda: len(self.sink.received()) >= len(payloads), "the sink to receive 100 messages")
        self.assertEqual(self.sink.received()[: len(payloads)], payloads)

        d = wait_for(lambda: (lambda x: x if x.counters.sent_messages >= 100 else None)(self.get(dest.id)),
                     "sent_messages to reach 100")
        self.assertEqual(d.counters.connects, 1)
        self.assertGreaterEqual(d.counters.sent_bytes, sum(len(p) + 4 for p in payloads))
        stats = self.stub.GetStats(pb.GetStatsRequest(), timeout=5)
        self.assertGreaterEqual(stats.received.received_messages, 100)
        self.assertGreaterEqual(stats.queue.tail, 100)
        self.assertIn(dest.id, [x.id for x in stats.destinations])
        listener = [l for l in stats.listeners if l.address == self.relayd.listen]
        self.assertEqual(len(listener), 1)
        self.assertGreaterEqual(listener[0].counters.received_messages, 100)

    def test_add_is_refused_with_the_right_codes(self):
        self.add()
        self.assert_code(grpc.StatusCode.ALREADY_EXISTS, self.stub.AddDestination,
                         pb.AddDestinationRequest(address=self.address))
        details = self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, self.stub.AddDestination,
                                   pb.AddDestinationRequest(address="tcp@not an address"))
        self.assertTrue(details.startswith("address: "), details)
        details = self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, self.stub.AddDestination,
                                   pb.AddDestinationRequest())
        self.assertTrue(details.startswith("address: "), details)

    def test_remove_by_address_returns_the_final_snapshot(self):
        dest = self.add()
        gone = self.stub.RemoveDestination(pb.RemoveDestinationRequest(address=self.address), timeout=5)
        self.assertEqual(gone.id, dest.id)
        self.assertEqual(list(self.stub.ListDestinations(pb.ListDestinationsRequest(), timeout=5).destinations), [])
        self.assert_code(grpc.StatusCode.NOT_FOUND, self.stub.GetDestination, pb.GetDestinationRequest(id=dest.id))

    def test_remove_with_drain(self):
        dest = self.add(framing=pb.FRAMING_LP32LE)
        wait_for(lambda: self.get(dest.id).state == pb.DESTINATION_STATE_CONNECTED, "the destination to connect")
        self.send([b"before removal"] * 10)
        req = pb.RemoveDestinationRequest(id=dest.id, drain=True)
        req.drain_timeout.FromMilliseconds(2000)
        gone = self.stub.RemoveDestination(req, timeout=10)
        self.assertEqual(gone.id, dest.id)

    def test_watch_stats_streams_until_cancelled(self):
        req = pb.WatchStatsRequest()
        req.interval.FromMilliseconds(100)
        stream = self.stub.WatchStats(req, timeout=TIMEOUT)
        times = []
        for msg in stream:
            times.append(msg.time.ToNanoseconds())
            if len(times) == 3:
                stream.cancel()
                break
        self.assertEqual(len(times), 3)
        self.assertGreaterEqual(times[2] - times[0], 150_000_000)

    def test_watch_stats_refuses_a_short_interval(self):
        req = pb.WatchStatsRequest()
        req.interval.FromMilliseconds(10)
        with self.assertRaises(grpc.RpcError) as cm:
            list(self.stub.WatchStats(req, timeout=5))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_relayctl_against_relayd(self):
        if RELAYCTL is None:
            self.skipTest("no relayctl path given")
        base = [RELAYCTL, "--server", self.relayd.control, "--timeout", "5s"]
        run = lambda *args: subprocess.run(base + list(args), capture_output=True, text=True, timeout=30)
        r = run("dest", "add", self.address)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("--json", "dest", "ls")
        self.assertEqual(r.returncode, 0, r.stderr)
        listed = json.loads(r.stdout)["destinations"]
        self.assertEqual([d["address"] for d in listed], [self.address])
        self.assertIn("lag_messages", listed[0])  # zero-valued fields are present
        r = run("dest", "add", self.address)
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("relayctl: ALREADY_EXISTS: "), r.stderr)
        r = run("stats", "--watch", "--interval", "100ms", "--count", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("msg/s", r.stdout)
        r = run("health")
        self.assertEqual((r.returncode, r.stdout), (0, "SERVING\n"), r.stderr)
        r = run("dest", "rm", self.address)
        self.assertEqual(r.returncode, 0, r.stderr)


def main():
    global RELAYD, RELAYCTL
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    RELAYD = sys.argv.pop(1)
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        RELAYCTL = sys.argv.pop(1)
    generate_stubs()
    try:
        unittest.main(verbosity=2)
    finally:
        shutil.rmtree(STUB_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
