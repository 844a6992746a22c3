"""The shared ``requests.Session``: bounded retries, connections to vetted addresses only, no cookies."""

from __future__ import annotations

import http.cookiejar
import math
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.retry import Retry

from media_analysis.engine.fetch.addresses import _allow_list, _AllowList, _vet, resolve_host
from media_analysis.engine.fetch.policy import RETRY_STATUSES, DownloadPolicy

# A retried error response is drained to keep its connection only when it is this small.
_DRAIN_LIMIT = 64 * 1024


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
