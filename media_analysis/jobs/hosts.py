"""This deployment's politeness per host: the host gate and the robots.txt cache, built from the settings.

``host_gate()`` is shared by every consumer on every machine when ``REDIS_URL`` is set (a ``RedisHostGate`` on
a connection pool of its own, its keys prefixed with ``HUEY_NAME`` so that two deployments on one Redis keep
their own counts), and by the threads of this process otherwise (one ``LocalHostGate``). ``robots_cache()`` is
None unless ``MEDIA_ANALYSIS_RESPECT_ROBOTS`` is on; its answers are kept per process.

Both are built once per process and per configuration, and handed out again on every call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

import redis
import requests
from django.conf import settings
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from media_analysis.engine.fetch import DownloadPolicy, build_session
from media_analysis.engine.fetch.hosts import HostGate, LocalHostGate, RedisHostGate
from media_analysis.engine.fetch.robots import RobotsCache

# A Redis that does not answer must not hold the download scheduler for long: the gate raises
# HostGateUnavailable after one quick retry instead.
_REDIS_TIMEOUT = 5.0

_lock = threading.Lock()
_built: dict[Hashable, Any] = {}


def _once(key: Hashable, build: Callable[[], Any]) -> Any:
    with _lock:
        if key not in _built:
            _built[key] = build()
        return _built[key]


def per_host_concurrency() -> int:
    """Requests open at once to one host (at least 1)."""
    return max(1, settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY)


def per_host_delay() -> float:
    """Seconds between the starts of two requests to one host (0: none)."""
    return max(0.0, settings.MEDIA_ANALYSIS_PER_HOST_DELAY)


def default_slot_ttl() -> float:
    """How long a slot of the shared gate outlives a process that died holding it.

    Well past the download deadline, so that a live download never loses its slot; a dead process's slot
    comes back after it.
    """
    return max(300.0, 2 * settings.MEDIA_ANALYSIS_DOWNLOAD_DEADLINE)


def host_prefix() -> str:
    return f"medianalyse:{settings.HUEY_NAME}:hosts:"


def _redis_client(url: str) -> redis.Redis:
    pool = redis.ConnectionPool.from_url(
        url,
        socket_timeout=_REDIS_TIMEOUT,
        socket_connect_timeout=_REDIS_TIMEOUT,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
    )
    return redis.Redis(connection_pool=pool)


def host_gate(slot_ttl: float | None = None) -> HostGate:
    """The gate every download of this deployment asks before opening a request (``slot_ttl``: see above)."""
    limit, delay = per_host_concurrency(), per_host_delay()
    url = settings.REDIS_URL
    # The builders are typed as HostGate so that mypy checks both gates against the protocol.
    if not url:

        def build_local() -> HostGate:
            return LocalHostGate(limit, delay)

        gate: HostGate = _once(("local", limit, delay), build_local)
        return gate
    ttl = slot_ttl or default_slot_ttl()
    prefix = host_prefix()

    def build_shared() -> HostGate:
        return RedisHostGate(_redis_client(url), limit, delay, slot_ttl=ttl, prefix=prefix)

    gate = _once(("redis", url, prefix, limit, delay, ttl), build_shared)
    return gate


def robots_cache(
    session: requests.Session | Callable[[], requests.Session] | None = None,
) -> RobotsCache | None:
    """The robots.txt cache of this process, or None when robots.txt is not respected.

    ``session``: what fetches robots.txt (a session or a callable returning one); by default a session of
    its own, built from the download settings.
    """
    if not settings.MEDIA_ANALYSIS_RESPECT_ROBOTS:
        return None
    policy = DownloadPolicy.from_settings(settings)
    ttl = max(0.0, settings.MEDIA_ANALYSIS_ROBOTS_TTL)

    def build() -> RobotsCache:
        return RobotsCache(session if session is not None else build_session(policy), policy, ttl=ttl)

    cache: RobotsCache = _once(("robots", policy, ttl, id(session) if session is not None else None), build)
    return cache
