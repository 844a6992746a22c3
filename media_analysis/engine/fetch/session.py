"""The shared ``requests.Session``: bounded retries, connections to vetted addresses only, no cookies."""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import io
import math
import socket
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.retry import Retry

from media_analysis.engine.errors import DownloadTimeout
from media_analysis.engine.fetch.addresses import _allow_list, _AllowList, _vet, resolve_host
from media_analysis.engine.fetch.deadline import bounded, current_budget, time_left
from media_analysis.engine.fetch.policy import RETRY_STATUSES, THROTTLING_STATUSES, DownloadPolicy

# A retried error response is drained to keep its connection only when it is this small.
_DRAIN_LIMIT = 64 * 1024


class _BoundedRetry(Retry):
    """A ``Retry`` that never reads a large error body, and never waits past the download's deadline.

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

    def sleep(self, response=None) -> None:
        # As Retry.sleep (Retry-After first, else the backoff), but a wait that
        # would end past the deadline fails now: the attempt after it could not finish.
        wait: float = 0.0
        if self.respect_retry_after_header and response is not None:
            wait = self.get_retry_after(response) or 0.0
        if not wait:
            wait = self.get_backoff_time()
        budget = current_budget()
        if budget is not None:
            left = budget.ends_at - time.monotonic()
            if wait >= left:
                asked = f", {wait:.3g} s to wait" if wait > 0 else ""
                raise DownloadTimeout(
                    f"no time left for another attempt within the {budget.seconds:g} s download deadline{asked}"
                )
        if wait > 0:
            time.sleep(wait)


class _DeferringRetry(_BoundedRetry):
    """A ``_BoundedRetry`` that leaves 429 and 503 to the caller (``DownloadPolicy.defer_throttling``).

    Taking them out of ``status_forcelist`` is not enough: urllib3 also retries any 429 or 503 carrying a
    ``Retry-After`` when it respects that header.
    """

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code in THROTTLING_STATUSES:
            return False
        return super().is_retry(method, status_code, has_retry_after)


def _retry(policy: DownloadPolicy) -> Retry:
    kind = _DeferringRetry if policy.defer_throttling else _BoundedRetry
    statuses = [s for s in RETRY_STATUSES if not (policy.defer_throttling and s in THROTTLING_STATUSES)]
    return kind(
        total=policy.max_retries,
        connect=policy.max_retries,
        read=policy.max_retries,
        status=policy.max_retries,
        other=0,
        # Redirects are followed by ``download`` itself, hop by hop.
        redirect=0,
        raise_on_redirect=False,
        status_forcelist=statuses,
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
    timeout = connection.timeout
    for address in addresses:
        left = time_left()
        if left is not None and left <= 0:
            raise DownloadTimeout(f"download deadline reached before connecting to {connection.host}")
        # urllib3 connects to ``_dns_host``; TLS (SNI, certificate) still uses ``host``.
        connection._dns_host = address
        # The socket keeps this timeout for the TLS handshake, which Python bounds as a whole.
        connection.timeout = bounded(timeout if isinstance(timeout, (int, float)) else None)
        try:
            return HTTPConnection._new_conn(connection)
        except (NewConnectionError, ConnectTimeoutError) as exc:
            last_error = exc
        finally:
            connection._dns_host = host
            connection.timeout = timeout
    assert last_error is not None
    raise last_error


class _DeadlineReader(io.RawIOBase):
    """The socket reads of one response, each with a timeout shortened to the download's time left.

    A read timeout bounds one silence, not a response: a server sending a
    header byte every few seconds never trips it. Shortening the timeout of
    every read to the time left ends such a response at the deadline. Inside a
    ``silence_scope`` each read is shortened to its limit as well.
    """

    def __init__(self, raw: io.RawIOBase, sock: socket.socket) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        # What urllib3 set for this response: the read timeout.
        self._timeout = sock.gettimeout()
        self._applied = self._timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = time_left()
        if left is not None and left <= 0:
            raise TimeoutError("the download deadline has passed")
        # The read timeout, shortened to the time left and to any silence limit (fetch.deadline).
        wanted = bounded(self._timeout)
        if wanted != self._applied:
            self._sock.settimeout(wanted)
            self._applied = wanted
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        # makefile() counted a reference on the socket; the detached raw reader keeps it and releases it on close.
        self.fp = io.BufferedReader(_DeadlineReader(self.fp.detach(), sock))


def _guarded_pool_classes(allow: _AllowList) -> dict[str, type[HTTPConnectionPool]]:
    class GuardedHTTPConnection(HTTPConnection):
        response_class = _DeadlineResponse

        def _new_conn(self):
            return _guarded_new_conn(self, allow)

    class GuardedHTTPSConnection(HTTPSConnection):
        response_class = _DeadlineResponse

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


class _HopByHopSession(requests.Session):
    """A session that never follows nor even prepares a redirect: ``download`` follows them, checking each hop.

    With ``allow_redirects=False`` requests still parses the ``Location`` to
    offer ``Response.next``: an unparsable one would raise there, before the
    hop could be checked and reported as an invalid URL.
    """

    def resolve_redirects(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return iter(())


def _pool_host(key_host: str | None) -> str:
    """A pool's host as ``hosts.host_key`` writes it (no brackets around IPv6, no trailing dot, lower case)."""
    return (key_host or "").strip("[]").rstrip(".").lower()


def trim_connections(session: requests.Session, host: str, keep: int) -> int:
    """Close idle connections of ``session`` to ``host`` (every port and scheme) until at most ``keep`` are open.

    Open counts the idle connections and those in use (by requests in progress, or being opened); only idle ones
    are closed. A caller that holds one slot of a per-host limit for each request in progress, and keeps a
    connection only while it holds its slot, calls this with the slots it will still hold before giving one
    back: the host then never sees more connections than slots, idle keep-alive connections included.
    Returns how many were closed.
    """
    pools = []
    for adapter in {id(a): a for a in session.adapters.values()}.values():
        manager = getattr(adapter, "poolmanager", None)
        if manager is None:
            continue
        # keys() copies them under the container's lock (iterating it directly is refused as not thread-safe).
        for key in manager.pools.keys():  # noqa: SIM118
            if _pool_host(getattr(key, "key_host", None)) == host:
                pool = manager.pools.get(key)
                if pool is not None and pool.pool is not None:
                    pools.append(pool)
    closing: list[HTTPConnection] = []
    # Every pool of the host locked at once (always in the same order): the count and the closing agree.
    with contextlib.ExitStack() as locked:
        queues = sorted((q for q in (pool.pool for pool in pools) if q is not None), key=id)
        for queue in queues:
            locked.enter_context(queue.mutex)
        # A pool's queue starts with ``maxsize`` placeholders: what is missing from it is in use.
        in_use = sum(queue.maxsize - len(queue.queue) for queue in queues)
        idle = [
            (queue.queue, index)
            for queue in queues
            for index, conn in enumerate(queue.queue)
            if conn is not None and getattr(conn, "sock", None) is not None
        ]
        # The oldest first: a pool hands out its latest connection first.
        for items, index in idle[: max(0, in_use + len(idle) - max(keep, 0))]:
            closing.append(items[index])
            items[index] = None
    for conn in closing:
        conn.close()
    return len(closing)


def build_session(policy: DownloadPolicy, pool_size: int = 16) -> requests.Session:
    """A session for ``download``/``probe``, safe to share between ``pool_size`` threads.

    Nothing in it changes after this function returns: cookies are refused (a
    shared jar would leak state between media and threads) and per-request
    headers are passed per call.
    """
    session = _HopByHopSession()
    # No proxies, no .netrc credentials from the environment (see the package docstring).
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
