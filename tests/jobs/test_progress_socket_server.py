"""The progress socket behind a real Daphne: the close codes reach the client on the wire, and stray
frames end the connection without a traceback in the server's log.

A browser only sees a close code when the handshake was accepted; refused during the handshake, it sees
an HTTP 403 and reports 1006. The client here speaks RFC 6455 over a plain socket, as a browser does.
Marked slow: it starts a server.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys

import pytest
import requests
from django.test import Client

from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from tests.factories import make_expression, make_land, make_media, make_staff
from tests.support.processes import ROOT, child_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

OP_TEXT, OP_BINARY, OP_CLOSE = 0x1, 0x2, 0x8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """Daphne on the test database; yields (port, log path)."""
    port = free_port()
    log_path = tmp_path / "daphne.log"
    env = child_env(tmp_path, MEDIANALYSE_LOG_LEVEL="INFO")
    with open(log_path, "ab") as log:
        daphne = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "medianalyse_site.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ready() -> bool:
        assert daphne.poll() is None, log_path.read_text(errors="replace")
        try:
            return requests.get(f"http://127.0.0.1:{port}/admin/login/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(ready, 20, interval=0.2, what="daphne to answer")
        yield port, log_path
    finally:
        if daphne.poll() is None:
            os.killpg(daphne.pid, signal.SIGTERM)
            try:
                daphne.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(daphne.pid, signal.SIGKILL)
                daphne.wait(timeout=5)


class RawSocket:
    """A minimal WebSocket client: the handshake, masked frames out, unmasked frames in."""

    def __init__(self, port: int, path: str, cookie: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            f"Origin: http://127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if cookie:
            lines.append(f"Cookie: {cookie}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, f"connection closed during the handshake: {head!r}"
            head += chunk
        self.status = int(head.split(b" ", 2)[1])

    def _exact(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            assert chunk, "connection closed mid-frame"
            data += chunk
        return data

    def send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 2**16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receive(self) -> tuple[int, bytes]:
        first, second = self._exact(2)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self._exact(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self._exact(8))
        return first & 0x0F, self._exact(size)

    def close_code(self) -> int:
        """The code of the server's close frame, skipping any data frame before it."""
        while True:
            opcode, payload = self.receive()
            if opcode == OP_CLOSE:
                return struct.unpack("!H", payload[:2])[0]

    def close(self) -> None:
        self.sock.close()


def cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def job(db):
    land = make_land()
    make_media(make_expression(land))
    job = jobs.create_job(land, JobParameters())
    jobs.plan_job(job.pk, chunk_size=2)
    return job


def test_refusals_reach_the_client_as_close_codes_after_the_handshake(server, job, admin_user):
    port, _ = server
    cases = [
        (None, job.pk, 4403),  # not logged in
        (cookie_for(make_staff("bare")), job.pk, 4403),  # staff status alone
        (cookie_for(make_staff("reader", "lands.view_land")), job.pk, 4403),  # the corpus, not its jobs
        (cookie_for(admin_user), 999_999, 4404),
    ]
    for cookie, job_id, code in cases:
        client = RawSocket(port, f"/ws/jobs/{job_id}/", cookie)
        assert client.status == 101
        assert client.close_code() == code
        client.close()


def test_stray_frames_close_cleanly_without_a_traceback(server, job, admin_user):
    port, log_path = server
    cookie = cookie_for(make_staff("follower", "media_analysis.view_analysisjob"))

    client = RawSocket(port, f"/ws/jobs/{job.pk}/", cookie)
    assert client.status == 101
    opcode, payload = client.receive()
    assert (opcode, json.loads(payload)["type"]) == (OP_TEXT, "snapshot")
    for ignored in (b"not json", b"[1]", b'"refresh"', b"[" * 1020):
        client.send(ignored)
    client.send(json.dumps({"type": "refresh"}).encode())
    opcode, payload = client.receive()
    assert (opcode, json.loads(payload)["type"]) == (OP_TEXT, "snapshot")
    client.send(b'{"type": "refresh"}', OP_BINARY)
    assert client.close_code() == 4415
    client.close()

    client = RawSocket(port, f"/ws/jobs/{job.pk}/", cookie)
    client.receive()
    client.send(json.dumps({"type": "refresh", "pad": "x" * 200_000}).encode())
    assert client.close_code() == 4413
    client.close()

    # Every socket ended as the server meant it to: nothing raised.
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log
    assert "Exception" not in log
