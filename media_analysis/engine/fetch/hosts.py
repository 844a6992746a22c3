"""Politeness per host: how many downloads one host serves at once, and how often.

A ``HostGate`` hands out slots per host without ever blocking: ``try_acquire``
answers at once, ``ready_in`` says when asking again may succeed, so a
dispatcher can sleep instead of spinning. ``LocalHostGate`` is the in-process
gate (exact within one process); a shared gate keeps the same contract across
processes.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit


def host_key(url: str) -> str:
    """The host a URL's requests go to, lower-case, with its port when it is not the scheme's default."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return ""
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return host if port is None or port == default else f"{host}:{port}"


@dataclass(frozen=True)
class HostSlot:
    host: str
    token: str


class HostGate(Protocol):
    def try_acquire(self, host: str) -> HostSlot | None: ...

    def release(self, slot: HostSlot) -> None: ...

    def pause(self, host: str, seconds: float) -> None: ...

    def ready_in(self, host: str) -> float: ...


class LocalHostGate:
    """At most ``concurrency`` slots per host, starts at least ``delay`` seconds apart, within one process."""

    def __init__(self, concurrency: int = 4, delay: float = 0.0) -> None:
        self.concurrency = max(1, concurrency)
        self.delay = max(0.0, delay)
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = {}
        self._next_start: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}

    def try_acquire(self, host: str) -> HostSlot | None:
        now = time.monotonic()
        with self._lock:
            held = self._held.setdefault(host, set())
            if len(held) >= self.concurrency or now < self._not_before(host):
                return None
            token = uuid.uuid4().hex
            held.add(token)
            if self.delay:
                self._next_start[host] = now + self.delay
            return HostSlot(host, token)

    def release(self, slot: HostSlot) -> None:
        with self._lock:
            held = self._held.get(slot.host)
            if held is not None:
                held.discard(slot.token)
                if not held and time.monotonic() >= self._not_before(slot.host):
                    # Forget idle hosts, so a crawl of many hosts does not grow the maps.
                    self._held.pop(slot.host, None)
                    self._next_start.pop(slot.host, None)
                    self._paused_until.pop(slot.host, None)

    def pause(self, host: str, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + max(0.0, seconds)
            self._paused_until[host] = max(until, self._paused_until.get(host, 0.0))

    def ready_in(self, host: str) -> float:
        """Seconds before a start may be allowed; 0 when only a release can free a slot (or one is free)."""
        with self._lock:
            return max(0.0, self._not_before(host) - time.monotonic())

    def _not_before(self, host: str) -> float:
        return max(self._next_start.get(host, 0.0), self._paused_until.get(host, 0.0))
