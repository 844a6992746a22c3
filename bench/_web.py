"""A "real web" for the land benchmark: many hosts, uneven latencies, validators, and counters.

``catalogue`` draws, once and from a seed, what every URL of a run is: which image of
the pool it serves, which host holds it, how long that host takes to answer it, and
whether it sends validators. ``serve_web`` serves that catalogue from one asyncio
process listening on 127.0.0.2, 127.0.0.3, ... (all of 127.0.0.0/8 is loopback on
Linux), one port shared by every host, and counts what the downloader does to it.

Bytes. Every URL serves distinct bytes: the pool image it maps to, with a metadata
segment naming the URL inserted where the format keeps comments (a JPEG COM segment
after SOI, a PNG tEXt chunk after IHDR, a GIF comment extension after the global
colour table, a WebP XMP chunk in the extended container). Decoders skip these
segments, so pixels and decoding cost stay those of the pool image, while a cache
keyed on content, or a deduplication of identical bodies, gains nothing. Only the
small segment is stored per URL: the pool image's bytes are shared.

Latency (``Latency.draw``), the time from a request's head to the response's status line:

* 1 % of URLs stall: status line and headers are sent, then nothing until the
  client closes the connection (or ``STALL_LIMIT`` seconds pass). With
  ``stall_body_start`` the first bytes of the body (the URL's metadata segment) come
  with the headers, so that a client's body-start limit does not apply and its read
  timeout ends the wait (how this server behaved before the option existed);
* 4 % answer after 4 s, 10 % after 1.5 s;
* the other 85 % after a log-normal time (sigma 0.5) whose median is chosen so
  that the median over all URLs is 300 ms, clipped to [30 ms, 1.2 s].

Each class is an exact share of the catalogue (rounded down), assigned by a seeded
shuffle independent of host and image. A 304 takes the same time as a 200.

Validators. 90 % of URLs (seeded) send ``ETag`` and ``Last-Modified``; a request whose
``If-None-Match`` matches the ETag (or, without ``If-None-Match``, whose
``If-Modified-Since`` is not older than Last-Modified) is answered 304.

Counters (``GET /stats`` and ``POST /reset`` on the control address, 127.0.0.1):

* per host, the peak of requests in progress (from the request head read to the
  response written, or to the connection's end for a stalled one): this is what a
  per-host limit on simultaneous downloads bounds; and the peak of open connections
  (idle keep-alive connections included);
* the peak of requests in progress over all hosts;
* requests per URL, conditional requests, 304s, 200s, stalls;
* connections accepted (a client that reuses its connections opens about as many as the per-host limit allows
  per host; one opening a connection per request, as many as it makes requests);
* per URL, the wall-clock times (``time.time()``) at which its latest request's head was read and its response
  written (``GET /timings``): with the consumer's trace, where a request's time went on either side.

A reset zeroes the counts and sets each peak to the current value.
"""

from __future__ import annotations

import asyncio
import email.utils
import io
import json
import math
import random
import statistics
import struct
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from multiprocessing.connection import Connection
from typing import Any

FIRST_HOST = 2  # 127.0.0.2: 127.0.0.1 is left to the control address and to everything else on the machine
STALL_LIMIT = 600.0  # a stalled response ends here even if the client never gives up
FLAT_LATENCY = 0.05
VALIDATOR_SHARE = 0.9

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}


def host_address(index: int) -> str:
    return f"127.0.0.{FIRST_HOST + index}"


# --- The catalogue: what each URL is, drawn once ---


class Latency:
    STALLED = math.inf
    SLOW = 1.5
    SLOWER = 4.0
    SHARES = ((STALLED, 0.01), (SLOWER, 0.04), (SLOW, 0.10))
    MEDIAN = 0.3
    SIGMA = 0.5
    CLIP = (0.03, 1.2)

    @classmethod
    def draw(cls, count: int, rng: random.Random) -> list[float]:
        """``count`` latencies in seconds (``inf`` for a stall), in a random order."""
        fixed: list[float] = []
        for value, share in cls.SHARES:
            fixed += [value] * int(count * share)
        ordinary = count - len(fixed)
        # The overall median falls inside the ordinary share at quantile 0.5 / (its share): place the
        # log-normal's own median so that this quantile is MEDIAN.
        quantile = 0.5 / (ordinary / count) if ordinary else 0.5
        mu = math.log(cls.MEDIAN) - cls.SIGMA * statistics.NormalDist().inv_cdf(min(quantile, 0.999))
        low, high = cls.CLIP
        latencies = fixed + [min(high, max(low, rng.lognormvariate(mu, cls.SIGMA))) for _ in range(ordinary)]
        rng.shuffle(latencies)
        return latencies


@dataclass(frozen=True)
class Entry:
    """One URL: ``/img/{id}.{ext}`` on host ``host``."""

    id: int
    image: int  # index in the pool
    host: int
    latency: float  # seconds to the status line; inf: stalled
    validators: bool

    @property
    def stalled(self) -> bool:
        return math.isinf(self.latency)


@dataclass
class Catalogue:
    entries: list[Entry] = field(default_factory=list)

    def add(self, count: int, pool_formats: Sequence[str], hosts: int, rng: random.Random) -> list[int]:
        """``count`` new URLs with latencies from ``Latency.draw``, spread evenly over the hosts and the pool.

        Host, latency and validators are drawn independently of each other; the images
        go round the pool in order. Returns the new ids.
        """
        latencies = Latency.draw(count, rng)
        hosts_of = [i % hosts for i in range(count)]
        rng.shuffle(hosts_of)
        validators = [i < round(count * VALIDATOR_SHARE) for i in range(count)]
        rng.shuffle(validators)
        first = len(self.entries)
        for i in range(count):
            self.entries.append(Entry(first + i, i % len(pool_formats), hosts_of[i], latencies[i], validators[i]))
        return list(range(first, first + count))

    def add_flat(self, like: Sequence[int]) -> list[int]:
        """New URLs with the images, hosts and validators of ``like``, each answering after FLAT_LATENCY."""
        first = len(self.entries)
        for offset, other in enumerate(like):
            model = self.entries[other]
            self.entries.append(Entry(first + offset, model.image, model.host, FLAT_LATENCY, model.validators))
        return list(range(first, first + len(like)))

    def url(self, entry_id: int, port: int, pool_formats: Sequence[str]) -> str:
        entry = self.entries[entry_id]
        return f"http://{host_address(entry.host)}:{port}/img/{entry_id}.{EXTENSIONS[pool_formats[entry.image]]}"


def latency_summary(latencies: Sequence[float]) -> dict[str, float]:
    answered = sorted(x for x in latencies if not math.isinf(x))
    count = len(latencies)
    return {
        "median_s": statistics.median(sorted(latencies)) if latencies else 0.0,
        "mean_answered_s": statistics.fmean(answered) if answered else 0.0,
        "stalled": sum(1 for x in latencies if math.isinf(x)) / count if count else 0.0,
        "at_4s": sum(1 for x in latencies if x == Latency.SLOWER) / count if count else 0.0,
        "at_1_5s": sum(1 for x in latencies if x == Latency.SLOW) / count if count else 0.0,
    }


# --- Distinct bytes per URL ---


def image_format(body: bytes) -> str:
    if body.startswith(b"\xff\xd8"):
        return "JPEG"
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if body[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "WEBP"
    raise ValueError("not a JPEG, PNG, GIF or WebP image")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


@lru_cache(maxsize=256)
def _webp_size(body: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(body)) as img:
        return img.size


def tag(body: bytes, text: bytes) -> tuple[bytes, int, bytes]:
    """``(head, offset, tail)``: ``head + body[offset:] + tail`` is ``body`` with ``text`` in a metadata segment."""
    kind = image_format(body)
    if kind == "JPEG":
        return b"\xff\xd8\xff\xfe" + struct.pack(">H", len(text) + 2) + text, 2, b""
    if kind == "PNG":
        if body[12:16] != b"IHDR":
            raise ValueError("PNG without IHDR first")
        end = 8 + 8 + struct.unpack(">I", body[8:12])[0] + 4
        return body[:end] + _png_chunk(b"tEXt", b"Comment\0" + text), end, b""
    if kind == "GIF":
        flags = body[10]
        end = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
        blocks = b"".join(bytes([len(text[i : i + 255])]) + text[i : i + 255] for i in range(0, len(text), 255))
        return body[:end] + b"\x21\xfe" + blocks + b"\0", end, b""
    # WebP: the simple container (one VP8/VP8L chunk) becomes the extended one, whose VP8X header
    # announces an XMP chunk after the image data.
    if body[12:16] == b"VP8X":
        raise ValueError("extended WebP is not handled: the pool's WebPs are simple")
    width, height = _webp_size(body)
    vp8x = _riff_chunk(
        b"VP8X", bytes([0x04, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    xmp = _riff_chunk(b"XMP ", text)
    size = 4 + len(vp8x) + (len(body) - 12) + len(xmp)
    return b"RIFF" + struct.pack("<I", size) + b"WEBP" + vp8x, 12, xmp


def tagged(body: bytes, text: bytes) -> bytes:
    head, offset, tail = tag(body, text)
    return head + body[offset:] + tail


def url_text(entry_id: int) -> bytes:
    return f"medianalyse land benchmark, URL {entry_id}".encode()


# --- The server ---


def _etag(entry: Entry) -> str:
    return f'"u{entry.id}-{entry.image}"'


_EPOCH = 1_700_000_000  # a fixed past date: Last-Modified is the same on every run


def _last_modified(entry: Entry) -> int:
    return _EPOCH - entry.id * 60


@dataclass
class Counters:
    hosts: int
    in_progress: list[int] = field(default_factory=list)
    open: list[int] = field(default_factory=list)
    peak_in_progress: list[int] = field(default_factory=list)
    peak_open: list[int] = field(default_factory=list)
    total_in_progress: int = 0
    peak_total_in_progress: int = 0
    requests: Counter[int] = field(default_factory=Counter)
    conditional: int = 0
    not_modified: int = 0
    ok: int = 0
    stalls: int = 0
    not_found: int = 0
    connections: int = 0
    timings: dict[int, tuple[float, float]] = field(default_factory=dict)
    # Seconds spent with each number of requests in progress (all hosts), from the first request after a reset
    # to the latest change: what "downloads in flight" was most of the time, not only at its peak.
    dwell: dict[int, float] = field(default_factory=dict)
    changed_at: float | None = None

    def __post_init__(self) -> None:
        self.in_progress = [0] * self.hosts
        self.open = [0] * self.hosts
        self.reset()

    def reset(self) -> None:
        self.peak_in_progress = list(self.in_progress)
        self.peak_open = list(self.open)
        self.peak_total_in_progress = self.total_in_progress
        self.requests = Counter()
        self.conditional = self.not_modified = self.ok = self.stalls = self.not_found = self.connections = 0
        self.timings = {}
        self.dwell = {}
        self.changed_at = None

    def _dwell(self) -> None:
        now = time.monotonic()
        if self.changed_at is not None:
            level = self.total_in_progress
            self.dwell[level] = self.dwell.get(level, 0.0) + now - self.changed_at
        self.changed_at = now

    def started(self, host: int) -> None:
        self._dwell()
        self.in_progress[host] += 1
        self.peak_in_progress[host] = max(self.peak_in_progress[host], self.in_progress[host])
        self.total_in_progress += 1
        self.peak_total_in_progress = max(self.peak_total_in_progress, self.total_in_progress)

    def ended(self, host: int) -> None:
        self._dwell()
        self.in_progress[host] -= 1
        self.total_in_progress -= 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "peak_in_progress": self.peak_in_progress,
            "peak_open": self.peak_open,
            "peak_total_in_progress": self.peak_total_in_progress,
            "in_progress": self.in_progress,
            "open": self.open,
            "requests": {str(k): v for k, v in self.requests.items()},
            "conditional": self.conditional,
            "not_modified": self.not_modified,
            "ok": self.ok,
            "stalls": self.stalls,
            "not_found": self.not_found,
            "connections": self.connections,
            "in_progress_seconds": {str(k): round(v, 4) for k, v in sorted(self.dwell.items())},
        }


@dataclass(frozen=True)
class _Prepared:
    ok_head: bytes  # status line and headers of a 200, then the URL's metadata segment
    headers_length: int  # of which the status line and headers
    body: memoryview  # the pool image from the segment's offset on
    tail: bytes
    not_modified: bytes
    etag: str | None
    last_modified: int | None


def _prepare(entries: Sequence[Entry], pool: Sequence[bytes]) -> list[_Prepared]:
    views = [memoryview(body) for body in pool]
    prepared = []
    for entry in entries:
        body = pool[entry.image]
        head, offset, tail = tag(body, url_text(entry.id))
        length = len(head) + len(body) - offset + len(tail)
        validators = ""
        etag = modified = None
        if entry.validators:
            etag, modified = _etag(entry), _last_modified(entry)
            validators = f"ETag: {etag}\r\nLast-Modified: {email.utils.formatdate(modified, usegmt=True)}\r\n"
        headers = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPES[image_format(body)]}\r\n"
            f"Content-Length: {length}\r\n{validators}\r\n"
        )
        prepared.append(
            _Prepared(
                ok_head=headers.encode() + head,
                headers_length=len(headers.encode()),
                body=views[entry.image][offset:],
                tail=tail,
                not_modified=f"HTTP/1.1 304 Not Modified\r\n{validators}\r\n".encode(),
                etag=etag,
                last_modified=modified,
            )
        )
    return prepared


_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def _is_fresh(prepared: _Prepared, headers: dict[bytes, bytes]) -> bool:
    """Whether the client's copy is current (RFC 9110: If-None-Match wins over If-Modified-Since)."""
    if_none_match = headers.get(b"if-none-match")
    if if_none_match is not None:
        if prepared.etag is None:
            return False
        tags = {t.strip().removeprefix("W/") for t in if_none_match.decode("latin-1").split(",")}
        return prepared.etag in tags or "*" in tags
    since = headers.get(b"if-modified-since")
    if since is None or prepared.last_modified is None:
        return False
    try:
        when = email.utils.parsedate_to_datetime(since.decode("latin-1")).timestamp()
    except (TypeError, ValueError):
        return False
    return prepared.last_modified <= when


def _parse(head: bytes) -> tuple[bytes, bytes, dict[bytes, bytes]]:
    lines = head.split(b"\r\n")
    method, target, _version = lines[0].split(b" ", 2)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


def _entry_id(target: bytes) -> int:
    return int(target.rsplit(b"/", 1)[-1].split(b".", 1)[0])


class WebServer:
    def __init__(
        self, entries: Sequence[Entry], pool: Sequence[bytes], hosts: int, stall_body_start: bool = False
    ) -> None:
        self.entries = entries
        self.stall_body_start = stall_body_start
        self.prepared = _prepare(entries, pool)
        self.counters = Counters(hosts)
        self.hosts = hosts
        self.port = 0
        self.control_port = 0

    async def start(self) -> None:
        """Bind the control address and the hosts (one port for all: retried until one is free everywhere)."""
        control = await asyncio.start_server(self._control, "127.0.0.1", 0)
        self.control_port = control.sockets[0].getsockname()[1]
        self._servers = [control]
        for _attempt in range(20):
            first = await asyncio.start_server(self._handler(0), host_address(0), 0, backlog=1024)
            port = first.sockets[0].getsockname()[1]
            servers = [first]
            try:
                for host in range(1, self.hosts):
                    servers.append(
                        await asyncio.start_server(self._handler(host), host_address(host), port, backlog=1024)
                    )
            except OSError:
                for server in servers:
                    server.close()
                continue
            self.port = port
            self._servers += servers
            return
        raise OSError("no port free on every benchmark host")

    def close(self) -> None:
        for server in self._servers:
            server.close()

    def _handler(self, host: int):
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(host, reader, writer)

        return handle

    async def _serve(self, host: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counters = self.counters
        counters.open[host] += 1
        counters.connections += 1
        counters.peak_open[host] = max(counters.peak_open[host], counters.open[host])
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                counters.started(host)
                try:
                    keep_open = await self._respond(host, head, reader, writer)
                finally:
                    counters.ended(host)
                if not keep_open:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # the server is closing: this connection ends with it
        finally:
            counters.open[host] -= 1
            writer.close()

    async def _respond(
        self, host: int, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        counters = self.counters
        method, target, headers = _parse(head)
        try:
            entry_id = _entry_id(target)
            entry = self.entries[entry_id]
            prepared = self.prepared[entry_id]
        except (ValueError, IndexError):
            counters.not_found += 1
            writer.write(_NOT_FOUND)
            await writer.drain()
            return True
        if entry.host != host:
            counters.not_found += 1
            writer.write(_NOT_FOUND)
            await writer.drain()
            return True
        counters.requests[entry_id] += 1
        conditional = b"if-none-match" in headers or b"if-modified-since" in headers
        counters.conditional += conditional
        latency = entry.latency
        if math.isinf(latency):
            counters.stalls += 1
            writer.write(prepared.ok_head if self.stall_body_start else prepared.ok_head[: prepared.headers_length])
            await writer.drain()
            # Silence until the client gives up (reads nothing more from us and closes).
            try:
                await asyncio.wait_for(reader.read(), STALL_LIMIT)
            except TimeoutError:
                pass
            return False
        head_read = time.time()
        await asyncio.sleep(latency)
        if conditional and _is_fresh(prepared, headers):
            counters.not_modified += 1
            writer.write(prepared.not_modified)
        else:
            counters.ok += 1
            writer.write(prepared.ok_head)
            if method != b"HEAD":
                writer.write(prepared.body)
                if prepared.tail:
                    writer.write(prepared.tail)
        await writer.drain()
        counters.timings[entry_id] = (head_read, time.time())
        return headers.get(b"connection", b"").lower() != b"close"

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _headers = _parse(head)
            if method == b"POST" and target == b"/reset":
                self.counters.reset()
            if target in (b"/stats", b"/reset", b"/timings"):
                if target == b"/timings":
                    snapshot: dict[str, Any] = {str(k): v for k, v in self.counters.timings.items()}
                else:
                    snapshot = self.counters.snapshot()
                body = json.dumps(snapshot).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
            else:
                writer.write(_NOT_FOUND)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


def serve_web(
    entries: Sequence[Entry], pool: Sequence[bytes], hosts: int, ready: Connection, stall_body_start: bool = False
) -> None:
    """Serve until killed; sends ``(port, control_port)`` through ``ready`` once every host listens."""

    async def main() -> None:
        server = WebServer(entries, pool, hosts, stall_body_start)
        await server.start()
        ready.send((server.port, server.control_port))
        await asyncio.Event().wait()

    asyncio.run(main())


class StatsClient:
    """Reads and resets the counters of a running ``serve_web`` (from any process)."""

    def __init__(self, control_port: int) -> None:
        self.base = f"http://127.0.0.1:{control_port}"

    def _call(self, method: str, path: str) -> dict[str, Any]:
        import urllib.request

        request = urllib.request.Request(self.base + path, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/reset")

    def timings(self) -> dict[int, tuple[float, float]]:
        """Per URL id, when its latest request's head was read and its response written (wall clock)."""
        return {int(k): (v[0], v[1]) for k, v in self._call("GET", "/timings").items()}
