"""Safe HTTP fetching of media: bounded, retried, and kept away from internal networks.

Pure module: nothing here imports Django; the settings arrive as a
``DownloadPolicy`` (``DownloadPolicy.from_settings(settings)``).

One ``requests.Session`` (``build_session``) is shared by every download thread.
Its adapter retries connection errors, read errors and 429/500/502/503/504
statuses with exponential backoff, jitter and ``Retry-After``. ``download``
fetches a whole body (images), ``probe`` only the first bytes (video/audio).

Address safety (server-side request forgery). Before every hop the URL's host
is resolved with ``socket.getaddrinfo`` and refused if any of its addresses is
loopback, private, link-local, multicast, reserved, unspecified or otherwise
not globally routable, unless ``DownloadPolicy.allow_private`` allows it.
Redirects are followed here, one hop at a time, so that each hop is checked.
DNS rebinding (a name answering a public address to the check and a private one
to the connection) is handled by the session's connections themselves: they
resolve the host once more, vet every address again and connect to the vetted
address literally, so the socket can only reach an address that passed the
check. Residual risks: a keep-alive connection is reused without resolving
again (it was vetted when opened); proxies are not supported (the session
ignores proxy environment variables, since a proxy would connect on our behalf
to addresses we never see).
"""

from __future__ import annotations

import http.client
import http.cookiejar
import ipaddress
import math
import socket
import time
import zlib
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from media_analysis.engine.av_probe import probe_av
from media_analysis.engine.errors import (
    DownloadError,
    DownloadTimeout,
    HttpStatusError,
    MediaFailure,
    RefusedAddress,
    TooLarge,
    TooManyRedirects,
    UnsupportedScheme,
)

__all__ = [
    "RETRY_STATUSES",
    "DownloadPolicy",
    "Downloaded",
    "Probed",
    "build_session",
    "check_address",
    "check_url",
    "download",
    "probe",
    "resolve_host",
    "sniff_mime",
]

RETRY_STATUSES = (429, 500, 502, 503, 504)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_READ_SIZE = 64 * 1024
# A retried error response is drained to keep its connection only when it is this small.
_DRAIN_LIMIT = 64 * 1024


@dataclass(frozen=True)
class DownloadPolicy:
    timeout: float = 15.0  # read timeout: the longest silence between two bytes
    connect_timeout: float = 5.0
    max_bytes: int = 10 * 1024 * 1024
    max_retries: int = 3
    backoff_factor: float = 0.5
    max_redirects: int = 5
    user_agent: str = "medianalyse/1.0"
    allow_private: tuple[str, ...] = ()  # host names, IP addresses or CIDR networks
    probe_bytes: int = 256 * 1024
    # Longest wait between two attempts, whether from the backoff or from Retry-After.
    backoff_max: float = 30.0
    # Wall-clock budget of one download's hops and body reading: a server that
    # trickles one byte per read timeout cannot hold a worker forever.
    deadline: float = 120.0

    def __post_init__(self) -> None:
        # Accept the comma-separated text of an environment variable as well as any sequence.
        entries = self.allow_private.split(",") if isinstance(self.allow_private, str) else self.allow_private
        object.__setattr__(self, "allow_private", tuple(e.strip() for e in entries if e and e.strip()))

    @classmethod
    def from_settings(cls, settings_obj: Any) -> DownloadPolicy:
        """Build from an object carrying ``MEDIA_ANALYSIS_*`` attributes (Django's settings or any namespace)."""
        defaults = {f.name: f.default for f in fields(cls)}
        names = {
            "timeout": "MEDIA_ANALYSIS_TIMEOUT",
            "connect_timeout": "MEDIA_ANALYSIS_CONNECT_TIMEOUT",
            "max_bytes": "MEDIA_ANALYSIS_MAX_FILE_SIZE",
            "max_retries": "MEDIA_ANALYSIS_MAX_RETRIES",
            "backoff_factor": "MEDIA_ANALYSIS_BACKOFF_FACTOR",
            "max_redirects": "MEDIA_ANALYSIS_MAX_REDIRECTS",
            "user_agent": "MEDIA_ANALYSIS_USER_AGENT",
            "allow_private": "MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS",
            "probe_bytes": "MEDIA_ANALYSIS_AV_PROBE_BYTES",
            "backoff_max": "MEDIA_ANALYSIS_BACKOFF_MAX",
            "deadline": "MEDIA_ANALYSIS_DOWNLOAD_DEADLINE",
        }
        values = {field: getattr(settings_obj, setting, defaults[field]) for field, setting in names.items()}
        values["allow_private"] = values["allow_private"] or ()
        return cls(**values)


@dataclass
class Downloaded:
    url: str
    final_url: str
    status: int
    content_type: str | None  # media type from the header, lower-case, without parameters
    content: bytes
    elapsed: float  # seconds, retries and redirects included
    redirects: int


@dataclass
class Probed:
    url: str
    final_url: str
    mime_type: str | None
    size: int | None  # whole file, from Content-Range or Content-Length
    head: bytes
    duration: float | None
    width: int | None
    height: int | None
    content_type: str | None = None  # as the server declared it
    ranged: bool = False  # the server answered the Range request with 206


# --- Addresses ------------------------------------------------------------------


@dataclass(frozen=True)
class _AllowList:
    names: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def allows_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(candidate in network for candidate in candidates for network in self.networks)


@lru_cache(maxsize=64)
def _allow_list(entries: tuple[str, ...]) -> _AllowList:
    names: set[str] = set()
    networks = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return _AllowList(frozenset(names), tuple(networks))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    embedded = []
    if address.ipv4_mapped is not None:
        embedded.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        embedded.append(address.sixtofour)
    if address in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return embedded


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _is_forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:a.b.c.d reaches a.b.c.d: judge that address, not the IPv6 block it is written in.
        return _is_forbidden(address.ipv4_mapped)
    if (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    ):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        return any(_is_forbidden(inner) for inner in _embedded_ipv4(address))
    return False


def check_address(address: str, policy: DownloadPolicy, host: str | None = None) -> None:
    """Raise ``RefusedAddress`` unless ``address`` may be reached (``host``: the name it was resolved from)."""
    allow = _allow_list(policy.allow_private)
    _vet(host or address, [address], allow)


def _vet(host: str, addresses: list[str], allow: _AllowList) -> None:
    if allow.allows_name(host):
        return
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _is_forbidden(address) and not allow.allows_address(address):
            raise RefusedAddress(f"{host} resolves to {address}, a non-public address the downloader may not reach")


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in resolver order (IP literals resolve to themselves)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


def check_url(url: str, policy: DownloadPolicy) -> tuple[str, int]:
    """Validate scheme and host of ``url``; return (host, port). Resolves the host (DNS) before any connection."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsupportedScheme(f"unsupported URL scheme {scheme or '(none)'!r}: {_short(url)}")
    try:
        host = parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise DownloadError(f"invalid URL {_short(url)}: {exc}") from exc
    if not host:
        raise DownloadError(f"URL without a host: {_short(url)}")
    allow = _allow_list(policy.allow_private)
    if allow.allows_name(host):
        return host, port
    try:
        addresses = resolve_host(host, port)
    except (OSError, UnicodeError) as exc:
        raise DownloadError(f"cannot resolve {host}: {exc}") from exc
    _vet(host, addresses, allow)
    return host, port


# --- Session ----------------------------------------------------------------------


class _BoundedRetry(Retry):
    """A ``Retry`` that never reads a large error body just to reuse its connection.

    Before retrying, urllib3 drains the failed response to keep the connection:
    a 503 with an endless body would be read entirely into memory. Closing
    such a response instead costs one new connection.
    """

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        new_retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if response is not None:
            length = getattr(response, "length_remaining", None)
            if length is None or length > _DRAIN_LIMIT:
                response.close()
        return new_retry


def _retry(policy: DownloadPolicy) -> Retry:
    return _BoundedRetry(
        total=policy.max_retries,
        connect=policy.max_retries,
        read=policy.max_retries,
        status=policy.max_retries,
        other=0,
        # Redirects are followed by ``download`` itself, hop by hop.
        redirect=0,
        raise_on_redirect=False,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        backoff_factor=policy.backoff_factor,
        backoff_jitter=policy.backoff_factor,
        backoff_max=policy.backoff_max,
        respect_retry_after_header=True,
        retry_after_max=max(0, math.ceil(policy.backoff_max)),
        # The last response is returned rather than raised, so its status can be reported.
        raise_on_status=False,
    )


def _guarded_new_conn(connection: HTTPConnection, allow: _AllowList):
    """Open the socket of ``connection`` to a vetted address of its host, never to a name."""
    host = connection._dns_host
    try:
        addresses = resolve_host(host.strip("[]"), connection.port)
    except OSError as exc:
        raise NewConnectionError(connection, f"cannot resolve {host}: {exc}") from exc
    _vet(connection.host, addresses, allow)
    last_error: Exception | None = None
    for address in addresses:
        # urllib3 connects to ``_dns_host``; TLS (SNI, certificate) still uses ``host``.
        connection._dns_host = address
        try:
            return HTTPConnection._new_conn(connection)
        except (NewConnectionError, ConnectTimeoutError) as exc:
            last_error = exc
        finally:
            connection._dns_host = host
    assert last_error is not None
    raise last_error


def _guarded_pool_classes(allow: _AllowList) -> dict[str, type[HTTPConnectionPool]]:
    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self):
            return _guarded_new_conn(self, allow)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self):
            return _guarded_new_conn(self, allow)

    class GuardedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allow: _AllowList, **kwargs: Any) -> None:
        # Set before HTTPAdapter.__init__, which builds the pool manager.
        self._allow = allow
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pool_classes(self._allow)


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie, request) -> bool:
        return False

    def return_ok(self, cookie, request) -> bool:
        return False


def build_session(policy: DownloadPolicy, pool_size: int = 16) -> requests.Session:
    """A session for ``download``/``probe``, safe to share between ``pool_size`` threads.

    Nothing in it changes after this function returns: cookies are refused (a
    shared jar would leak state between media and threads) and per-request
    headers are passed per call.
    """
    session = requests.Session()
    # No proxies, no .netrc credentials from the environment (see the module docstring).
    session.trust_env = False
    session.headers.clear()
    session.headers.update(
        {
            "User-Agent": policy.user_agent,
            "Accept": "*/*",
            # Only what ``_Decoder`` can decode with a bounded output.
            "Accept-Encoding": "gzip, deflate",
        }
    )
    session.cookies = RequestsCookieJar(policy=_NoCookies())
    session.max_redirects = policy.max_redirects
    adapter = _GuardedAdapter(
        _allow_list(policy.allow_private),
        max_retries=_retry(policy),
        pool_connections=pool_size,
        pool_maxsize=pool_size,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --- Fetching ---------------------------------------------------------------------


def _short(url: str, limit: int = 200) -> str:
    return url if len(url) <= limit else url[: limit - 3] + "..."


def _media_type(header: str | None) -> str | None:
    if not header:
        return None
    value = header.split(";", 1)[0].strip().lower()
    return value or None


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    seen = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kinds):
            return True
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return False


def _is_timeout(exc: BaseException) -> bool:
    # urllib3's NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError: not a timeout.
    return _caused_by(exc, (ReadTimeoutError, TimeoutError)) or (
        _caused_by(exc, (ConnectTimeoutError,)) and not _caused_by(exc, (NewConnectionError,))
    )


def _failure_note(exc: BaseException, session: requests.Session, url: str) -> str:
    """The end of a failure message: attempts made (as the session's retry configuration allows) and the cause."""
    retries = None
    if _caused_by(exc, (MaxRetryError,)):
        try:
            retries = session.get_adapter(url).max_retries
        except requests.exceptions.InvalidSchema:
            retries = None
    attempts = f" after {retries.total + 1} attempts" if isinstance(getattr(retries, "total", None), int) else ""
    reason: BaseException = exc
    for _ in range(8):  # unwrap requests -> MaxRetryError -> urllib3 error, boundedly
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException) and reason.args and isinstance(reason.args[0], BaseException):
            inner = reason.args[0]
        if not isinstance(inner, BaseException):
            break
        reason = inner
    return f"{attempts}: {reason}"


def _get(session: requests.Session, url: str, policy: DownloadPolicy, headers: dict[str, str]) -> requests.Response:
    try:
        return session.get(
            url,
            headers=headers,
            timeout=(policy.connect_timeout, policy.timeout),
            stream=True,
            allow_redirects=False,
        )
    except MediaFailure:
        raise
    except requests.exceptions.Timeout as exc:
        raise DownloadTimeout(f"GET {_short(url)} timed out{_failure_note(exc, session, url)}") from exc
    except requests.exceptions.ConnectionError as exc:
        note = _failure_note(exc, session, url)
        if _is_timeout(exc):
            raise DownloadTimeout(f"GET {_short(url)} timed out{note}") from exc
        raise DownloadError(f"GET {_short(url)} failed{note}") from exc
    except (requests.exceptions.RequestException, ValueError, UnicodeError) as exc:
        raise DownloadError(f"GET {_short(url)} failed: {exc}") from exc


def _response_attempts(response: requests.Response) -> int:
    retries = getattr(response.raw, "retries", None)
    history = getattr(retries, "history", None) or ()
    return len(history) + 1


def _open(
    session: requests.Session, url: str, policy: DownloadPolicy, headers: dict[str, str], deadline: float
) -> tuple[requests.Response, str, int]:
    """GET ``url``, following redirects hop by hop; return the final 2xx response (streaming), its URL, hop count."""
    current = urldefrag(url)[0]
    for hops in range(policy.max_redirects + 1):
        if time.monotonic() > deadline:
            raise DownloadTimeout(f"GET {_short(url)}: no answer within {policy.deadline:g} s")
        check_url(current, policy)
        response = _get(session, current, policy, headers)
        status = response.status_code
        location = response.headers.get("Location")
        if status in REDIRECT_STATUSES and location:
            response.close()
            if hops >= policy.max_redirects:
                raise TooManyRedirects(f"GET {_short(url)}: more than {policy.max_redirects} redirects")
            current = urldefrag(urljoin(current, location.strip()))[0]
            continue
        if not 200 <= status < 300:
            attempts = _response_attempts(response)
            content_type = _media_type(response.headers.get("Content-Type"))
            response.close()
            note = f" after {attempts} attempts" if attempts > 1 else ""
            raise HttpStatusError(
                f"GET {_short(current)} answered HTTP {status}{note}", status=status, mime_type=content_type
            )
        return response, current, hops
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


class _Decoder:
    """Undo a Content-Encoding with a bounded output, whatever the compression ratio."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._zlib: Any = None
        self._pending = b""
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decode(self, data: bytes, room: int) -> bytes:
        """Decode ``data``, returning at most ``room`` bytes (more input than that is left pending)."""
        if self.encoding == "deflate" and self._zlib is None:
            self._pending += data
            if len(self._pending) < 2:
                return b""
            data, self._pending = self._pending, b""
            # "deflate" should be zlib-wrapped; some servers send a raw stream.
            wrapped = (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        try:
            return self._zlib.decompress(self._zlib.unconsumed_tail + data, max(room, 1))
        except zlib.error as exc:
            raise DownloadError(f"corrupt {self.encoding} content: {exc}") from exc

    def finish(self, room: int) -> bytes:
        if self._zlib is None:
            return self.decode(b"", room) if self._pending else b""
        if self._zlib.unconsumed_tail:
            return self.decode(b"", room)
        try:
            return self._zlib.flush()[: max(room, 1)]
        except zlib.error as exc:
            raise DownloadError(f"corrupt {self.encoding} content: {exc}") from exc


def _decoder_for(response: requests.Response) -> _Decoder | None:
    encodings = [e.strip().lower() for e in response.headers.get("Content-Encoding", "").split(",") if e.strip()]
    encodings = [e for e in encodings if e != "identity"]
    if not encodings:
        return None
    if len(encodings) == 1 and encodings[0] in ("gzip", "x-gzip", "deflate"):
        return _Decoder(encodings[0])
    raise DownloadError(f"unsupported Content-Encoding {', '.join(encodings)}")


def _read_body(response: requests.Response, limit: int, deadline: float, url: str, *, truncate: bool) -> bytes:
    """Read at most ``limit`` bytes of decoded body; past it, raise ``TooLarge`` or (``truncate``) stop."""
    decoder = _decoder_for(response)
    raw = response.raw
    body = bytearray()
    received = 0
    try:
        while True:
            if time.monotonic() > deadline:
                raise DownloadTimeout(f"GET {_short(url)}: body not received within the download deadline")
            # read1 returns what one socket read brings, so a trickling server is noticed between reads.
            chunk = raw.read1(_READ_SIZE, decode_content=False)
            if not chunk:
                if decoder is not None:
                    body += decoder.finish(limit - len(body) + 1)
                break
            received += len(chunk)
            if decoder is None:
                body += chunk
            else:
                if received > limit and not truncate:
                    raise TooLarge(f"GET {_short(url)}: encoded body larger than {limit} bytes")
                body += decoder.decode(chunk, limit - len(body) + 1)
            if truncate and len(body) >= limit:
                # Enough: waiting for one more byte could cost a whole read timeout.
                del body[limit:]
                break
            if len(body) > limit:
                raise TooLarge(f"GET {_short(url)}: body larger than {limit} bytes")
    except MediaFailure:
        raise
    except ReadTimeoutError as exc:
        raise DownloadTimeout(f"GET {_short(url)}: read timed out in the body: {exc}") from exc
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError) as exc:
        if _is_timeout(exc):
            raise DownloadTimeout(f"GET {_short(url)}: read timed out in the body: {exc}") from exc
        raise DownloadError(f"GET {_short(url)}: body interrupted: {exc}") from exc
    return bytes(body)


def _declared_length(response: requests.Response) -> int | None:
    try:
        value = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def download(session: requests.Session, url: str, policy: DownloadPolicy) -> Downloaded:
    """Fetch the whole body of ``url`` (at most ``policy.max_bytes`` decoded bytes).

    The declared content type is returned as seen; whether the bytes are an
    image is for the caller to decide (``sniff_mime``).
    """
    started = time.monotonic()
    deadline = started + policy.deadline
    response, final_url, redirects = _open(session, url, policy, {}, deadline)
    try:
        content_type = _media_type(response.headers.get("Content-Type"))
        declared = _declared_length(response)
        if declared is not None and declared > policy.max_bytes:
            raise TooLarge(
                f"GET {_short(final_url)}: Content-Length {declared} over the {policy.max_bytes} bytes limit",
                size=declared,
                mime_type=content_type,
            )
        content = _read_body(response, policy.max_bytes, deadline, final_url, truncate=False)
    finally:
        response.close()
    return Downloaded(
        url=url,
        final_url=final_url,
        status=response.status_code,
        content_type=content_type,
        content=content,
        elapsed=time.monotonic() - started,
        redirects=redirects,
    )


def _range_total(content_range: str | None) -> int | None:
    # "bytes 0-1023/4096" -> 4096; "bytes 0-1023/*" -> unknown
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def probe(session: requests.Session, url: str, policy: DownloadPolicy) -> Probed:
    """Fetch only the first ``policy.probe_bytes`` of a video/audio file and read what they tell."""
    deadline = time.monotonic() + policy.deadline
    headers = {
        "Range": f"bytes=0-{max(policy.probe_bytes, 1) - 1}",
        # Byte ranges of an encoded body are meaningless to the parsers.
        "Accept-Encoding": "identity",
    }
    response, final_url, _redirects = _open(session, url, policy, headers, deadline)
    try:
        content_type = _media_type(response.headers.get("Content-Type"))
        ranged = response.status_code == 206
        if ranged:
            size = _range_total(response.headers.get("Content-Range"))
        elif "Content-Encoding" not in response.headers:
            size = _declared_length(response)
        else:
            size = None
        # A server ignoring Range streams the whole file: read its first bytes, then hang up.
        head = _read_body(response, policy.probe_bytes, deadline, final_url, truncate=True)
    finally:
        response.close()
    info = probe_av(head, size)
    sniffed = sniff_mime(head)
    return Probed(
        url=url,
        final_url=final_url,
        mime_type=info.mime_type or sniffed or content_type,
        size=size,
        head=head,
        duration=info.duration,
        width=info.width,
        height=info.height,
        content_type=content_type,
        ranged=ranged,
    )


# --- Content sniffing -------------------------------------------------------------

_FTYP_BRANDS = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"hevc": "image/heic",
    b"hevx": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
}


def _sniff_text(head: bytes) -> str | None:
    text = head[:4096]
    for bom in (b"\xef\xbb\xbf",):
        if text.startswith(bom):
            text = text[len(bom) :]
    stripped = text.lstrip().lower()
    if not stripped:
        return None
    if stripped[:1] in (b"{", b"["):
        return "application/json"
    if not stripped.startswith(b"<"):
        return None
    if stripped.startswith(b"<svg") or (
        stripped.startswith((b"<?xml", b"<!--", b"<!doctype svg")) and b"<svg" in stripped and b"<html" not in stripped
    ):
        return "image/svg+xml"
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<title", b"<meta")):
        return "text/html"
    if b"<html" in stripped[:1024] or b"<!doctype html" in stripped[:1024]:
        return "text/html"
    if stripped.startswith(b"<?xml"):
        return "application/xml"
    return None


def sniff_mime(head: bytes) -> str | None:
    """The media type the first bytes of a body reveal (magic numbers), or None when they say nothing clear."""
    head = bytes(head[:8192])
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and len(head) >= 12:
        kind = head[8:12]
        if kind == b"WEBP":
            return "image/webp"
        if kind == b"WAVE":
            return "audio/wav"
        if kind == b"AVI ":
            return "video/x-msvideo"
    if head.startswith(b"BM") and len(head) >= 14 and head[6:10] == b"\0\0\0\0":
        return "image/bmp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith((b"\x00\x00\x01\x00", b"\x00\x00\x02\x00")) and len(head) >= 6 and head[4:6] != b"\0\0":
        return "image/x-icon"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"OggS"):
        if b"\x80theora" in head[:256]:
            return "video/ogg"
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3"):
        return "audio/flac" if probe_av(head).mime_type == "audio/flac" else "audio/mpeg"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    info = probe_av(head)
    if info.mime_type == "audio/mpeg":
        return "audio/mpeg"
    return _sniff_text(head)
