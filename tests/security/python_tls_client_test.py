#!/usr/bin/python3
"""A third-party client in Python against relayd's control API over mutual TLS with a token.

Usage: python_tls_client_test.py RELAYD [unittest options]

Makes keys with `relayd certs init` and a token with `relayd certs token`, starts relayd with
--control-tls-cert/-key/-client-ca and --control-token-file on a free loopback port, then, with
grpcio's own TLS: add a destination, see it listed, remove it; and checks that a call without the
token is refused with UNAUTHENTICATED while the health service stays open.
"""

import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

import grpc

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "control"))
import python_client_test as base  # noqa: E402  (stub generation, shared with the plaintext test)

RELAYD = None
TIMEOUT = 10.0


def read_port(proc):
    """The control port from relayd's "control: listening on 127.0.0.1:0 (port N)" line."""
    lines = []
    for line in proc.stderr:
        lines.append(line)
        m = re.search(r"control: listening on .* \(port (\d+)\)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return int(m.group(1))
        if "relayd cannot run" in line:
            break
    raise AssertionError("relayd did not report its control port:\n" + "".join(lines))


class Sink:
    """A TCP server that accepts and reads, so the destination connects."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=lambda c=conn: [None for _ in iter(lambda: c.recv(65536), b"")], daemon=True).start()


class PythonTlsClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        base.generate_stubs()
        cls.dir = pathlib.Path(tempfile.mkdtemp(prefix="relay_pytls."))
        keys = cls.dir / "keys"
        subprocess.run([RELAYD, "certs", "init", str(keys), "--host", "127.0.0.1"], check=True, capture_output=True)
        out = subprocess.run([RELAYD, "certs", "token", "ci", "--role", "admin"], check=True, capture_output=True,
                             text=True).stdout.splitlines()
        cls.token = out[1].strip()
        (cls.dir / "tokens.conf").write_text(out[3].strip() + "\n")
        cls.relayd = subprocess.Popen(
            [RELAYD, "--control", "127.0.0.1:0", "--stats-interval", "0",
             "--control-tls-cert", str(keys / "server.crt"), "--control-tls-key", str(keys / "server.key"),
             "--control-tls-client-ca", str(keys / "ca.crt"), "--control-token-file", str(cls.dir / "tokens.conf"),
             "udp@127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = read_port(cls.relayd)
        creds = grpc.ssl_channel_credentials(
            root_certificates=(keys / "ca.crt").read_bytes(),
            private_key=(keys / "client.key").read_bytes(),
            certificate_chain=(keys / "client.crt").read_bytes())
        cls.channel = grpc.secure_channel(f"127.0.0.1:{port}", creds)
        cls.stub = base.pb_grpc.RelayControlStub(cls.channel)
        cls.auth = [("authorization", "Bearer " + cls.token)]

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.relayd.terminate()
        cls.relayd.wait(timeout=TIMEOUT)

    def test_add_list_remove_with_token(self):
        info = self.stub.GetInfo(base.pb.GetInfoRequest(), metadata=self.auth, timeout=TIMEOUT)
        self.assertEqual(info.caller.identity, "token:ci")
        self.assertEqual(info.caller.role, "admin")
        self.assertTrue(info.security.tls and info.security.client_certificates_required)
        sink = Sink()
        address = f"tcp@127.0.0.1:{sink.port}"
        added = self.stub.AddDestination(base.pb.AddDestinationRequest(address=address), metadata=self.auth,
                                         timeout=TIMEOUT)
        listed = self.stub.ListDestinations(base.pb.ListDestinationsRequest(), metadata=self.auth, timeout=TIMEOUT)
        self.assertIn(added.id, [d.id for d in listed.destinations])
        self.stub.RemoveDestination(base.pb.RemoveDestinationRequest(id=added.id), metadata=self.auth, timeout=TIMEOUT)
        listed = self.stub.ListDestinations(base.pb.ListDestinationsRequest(), metadata=self.auth, timeout=TIMEOUT)
        self.assertNotIn(added.id, [d.id for d in listed.destinations])

    def test_no_token_is_unauthenticated_but_health_is_open(self):
        with self.assertRaises(grpc.RpcError) as err:
            self.stub.ListDestinations(base.pb.ListDestinationsRequest(), timeout=TIMEOUT)
        self.assertEqual(err.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        health = base.health_grpc.HealthStub(self.channel)
        reply = health.Check(base.health_pb.HealthCheckRequest(service=""), timeout=TIMEOUT)
        self.assertEqual(reply.status, base.health_pb.HealthCheckResponse.SERVING)


if __name__ == "__main__":
    RELAYD = sys.argv[1]
    unittest.main(argv=[sys.argv[0], *sys.argv[2:]])
