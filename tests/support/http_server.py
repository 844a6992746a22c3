"""A real HTTP server on 127.0.0.1 for tests that download.

Routes map a path to a sequence of ``Reply``: each request to the path takes
the next reply, the last one repeats (``[503, 503, 200]`` fails twice, then
serves). A reply sets the status, body, headers and how the body travels:
with a Content-Length, chunked, or delimited by closing the connection;
optionally late (``latency``), held until an event is set (``hold``), dripping
its status line and headers one byte at a time (``header_delay``) or trickling
its body (``chunk_delay``), answering ``Range`` requests with 206 when
``honour_range`` is set, and conditional requests with 304 when the reply's
``ETag`` or ``Last-Modified`` match and ``conditional`` is set. Every request is
recorded (method, path, headers, arrival time, client port) for assertions.
Open connections are counted (``open_connections``, ``peak_open_connections``, ``connections_accepted``): a
connection counts from its accept until the client closes it, idle keep-alive connections included.

Usage::

    with LocalHTTPServer() as server:
        server.route("/a.png", Reply(503), Reply(body=png, content_type="image/png"))
        requests.get(server.url("/a.png"))
        assert server.hits("/a.png") == 1
"""

from __future__ import annotations

import re
import select
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["LocalHTTPServer", "RecordedRequest", "Reply", "redirect", "unused_port"]

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    framing: str = "length"  # "length" (Content-Length), "chunked", or "close" (body ends with the connection)
    chunk_size: int = 16 * 1024
    latency: float = 0.0  # seconds before the status line
    hold: threading.Event | None = None  # the status line waits until this is set (or the server stops)
    header_delay: float = 0.0  # seconds between two bytes of the status line and headers
    chunk_delay: float = 0.0  # seconds between two body chunks
    honour_range: bool = False
    # Answer a matching If-None-Match (weak comparison), or an If-Modified-Since not
    # earlier than the reply's Last-Modified, with 304 and the reply's validators.
    conditional: bool = False
    # A body produced while sending (huge or endless bodies); needs "chunked" or "close" framing.
    stream: Callable[[], Iterable[bytes]] | None = None

    def __post_init__(self) -> None:
        if self.framing not in ("length", "chunked", "close"):
            raise ValueError(f"unknown framing {self.framing!r}")
        if self.stream is not None and self.framing == "length":
            raise ValueError("a streamed body has no length: use framing='chunked' or 'close'")


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, content_type=None, headers={"Location": location})


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    at: float  # time.monotonic() on arrival
    client_port: int = 0  # the client's side of the connection: requests on one connection share it


def unused_port() -> int:
    """A port on 127.0.0.1 nothing listens on (for "connection refused")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Stopping(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # BaseHTTPRequestHandler's buffer of the status line and headers, sent by end_headers.
    _headers_buffer: list[bytes]
    # Idle keep-alive connections end on their own, so no handler thread outlives a test for long.
    timeout = 10

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.untrack(self.connection)

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        owner._record(
            RecordedRequest(
                self.command,
                path,
                {k.lower(): v for k, v in self.headers.items()},
                time.monotonic(),
                self.client_address[1],
            )
        )
        reply = owner._next_reply(path)
        try:
            self._send(reply, send_body)
        except (_Stopping, BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.server.stopping.wait(seconds):
            raise _Stopping

    def _hold(self, event: threading.Event | None) -> None:
        while event is not None and not event.wait(0.05):
            if self.server.stopping.is_set():
                raise _Stopping

    def _end_headers(self, delay: float) -> None:
        if delay <= 0:
            self.end_headers()
            return
        self._headers_buffer.append(b"\r\n")
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        for index in range(len(head)):
            if index:
                self._wait(delay)
            self.wfile.write(head[index : index + 1])
            self.wfile.flush()

    def _send(self, reply: Reply, send_body: bool) -> None:
        self._hold(reply.hold)
        self._wait(reply.latency)
        status = reply.status
        body = reply.body
        extra: dict[str, str] = {}
        if reply.conditional and status == 200 and _not_modified(self.headers, reply.headers):
            self.send_response(304)
            for name, value in reply.headers.items():
                if name.lower() in ("etag", "last-modified"):
                    self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if reply.honour_range and reply.stream is None and status == 200:
            wanted = _RANGE.match(self.headers.get("Range", ""))
            if wanted:
                total = len(body)
                first = int(wanted.group(1)) if wanted.group(1) else None
                last = int(wanted.group(2)) if wanted.group(2) else None
                if first is None:  # suffix range: the last N bytes
                    first, last = max(total - (last or 0), 0), total - 1
                last = total - 1 if last is None else min(last, total - 1)
                if first >= total or first > last:
                    status, body = 416, b""
                    extra["Content-Range"] = f"bytes */{total}"
                else:
                    status, body = 206, body[first : last + 1]
                    extra["Content-Range"] = f"bytes {first}-{last}/{total}"
            extra["Accept-Ranges"] = "bytes"

        self.send_response(status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in {**extra, **reply.headers}.items():
            self.send_header(name, value)
        if reply.framing == "length" and "content-length" not in {k.lower() for k in reply.headers}:
            self.send_header("Content-Length", str(len(body)))
        elif reply.framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        if reply.framing == "close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self._end_headers(reply.header_delay)
        if not send_body:
            return

        pieces: Iterable[bytes | memoryview]
        if reply.stream is not None:
            pieces = reply.stream()
        else:
            view = memoryview(body)
            pieces = (view[i : i + reply.chunk_size] for i in range(0, len(body), reply.chunk_size))
        first_piece = True
        for piece in pieces:
            if not first_piece:
                self._wait(reply.chunk_delay)
            first_piece = False
            if not piece:
                continue
            if reply.framing == "chunked":
                self.wfile.write(b"%x\r\n" % len(piece))
                self.wfile.write(piece)
                self.wfile.write(b"\r\n")
            else:
                self.wfile.write(piece)
            self.wfile.flush()
        if reply.framing == "chunked":
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()


def _not_modified(request: Message, reply_headers: dict[str, str]) -> bool:
    """RFC 9110, 13.1.2 and 13.1.3: If-None-Match, when sent, decides alone."""
    own = {name.lower(): value for name, value in reply_headers.items()}
    tags = request.get("If-None-Match")
    if tags is not None:
        etag = own.get("etag")
        if etag is None:
            return False
        opaque = etag.removeprefix("W/")
        return any(tag.strip() == "*" or tag.strip().removeprefix("W/") == opaque for tag in tags.split(","))
    since, modified = request.get("If-Modified-Since"), own.get("last-modified")
    if since is None or modified is None:
        return False
    try:
        return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: LocalHTTPServer, host: str) -> None:
        self.owner = owner
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.peak_open = 0
        self.accepted = 0
        super().__init__((host, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn); tests need no DNS at all.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)
            self.accepted += 1
            self.peak_open = max(self.peak_open, self._open_locked())

    def open_connections(self) -> int:
        with self._connections_lock:
            return self._open_locked()

    def reset_peak(self) -> None:
        with self._connections_lock:
            self.peak_open = self._open_locked()
            self.accepted = 0

    def _open_locked(self) -> int:
        """Connections the client has not closed: a connection whose end the handler has not read yet does not
        count once the client's close has arrived (on loopback, before the client's ``close`` returns)."""
        return sum(1 for connection in self._connections if not _closed_by_peer(connection))

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        # Clients hanging up mid-body is what several tests do on purpose.
        pass


def _closed_by_peer(connection: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (OSError, ValueError):
        return True


class LocalHTTPServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 and an ephemeral port, serving configured routes."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._lock = threading.Lock()
        self._routes: dict[str, list[Reply]] = {}
        self._served: dict[str, int] = {}
        self._requests: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> LocalHTTPServer:
        self._server = _Server(self, self.host)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="LocalHTTPServer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stopping.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> LocalHTTPServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # configuration

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def route(self, path: str, *replies: Reply) -> str:
        """Serve ``replies`` in turn at ``path`` (the last one repeats); return the URL."""
        if not replies:
            raise ValueError("a route needs at least one reply")
        with self._lock:
            self._routes[path] = list(replies)
            self._served[path] = 0
        return self.url(path)

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            replies = self._routes.get(path)
            if replies is None:
                return Reply(status=404, body=b"not found", content_type="text/plain")
            index = min(self._served[path], len(replies) - 1)
            self._served[path] += 1
            return replies[index]

    # observation

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def open_connections(self) -> int:
        """Connections open now (idle keep-alive connections included)."""
        assert self._server is not None, "server not started"
        return self._server.open_connections()

    @property
    def peak_open_connections(self) -> int:
        """The most connections open at once since the start (or ``reset_connection_counts``)."""
        assert self._server is not None, "server not started"
        return self._server.peak_open

    @property
    def connections_accepted(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.accepted

    def reset_connection_counts(self) -> None:
        assert self._server is not None, "server not started"
        self._server.reset_peak()

    def hits(self, path: str | None = None) -> int:
        return len(self.requests if path is None else self.requests_for(path))
