"""Politeness per host: how many requests to one host may be open at once, how often one may start, and pauses.

A host is the lower-cased host name of a URL (``host_key``): every port and scheme of a host shares its limit,
as they share its server. A ``HostGate`` grants ``HostSlot``s without ever blocking; the caller (the download
scheduler) asks again later, guided by ``ready_in``, rather than holding a thread.

* ``LocalHostGate`` counts in this process only (threads of one process share it).
* ``RedisHostGate`` counts across every process on every machine sharing one Redis: each host has a sorted set of
  its open slots (token -> expiry, so a slot of a process that died is freed after ``slot_ttl``) and a hash holding
  the end of its pause and, with a minimum delay, the start of its latest request. Lua scripts decide atomically,
  with the Redis server's clock (``TIME``), so the machines' clocks never matter; every key expires once the host is
  idle.

A slot is also what keeps a connection open: its holder may ``renew`` it to send the next request to the same host
on the same connection (the pause and the minimum delay still apply, and the shared slot's expiry moves forward),
and closes that connection before it releases the slot, so that a host never sees more connections than its limit,
idle keep-alive connections included, across every process sharing the gate.

A scheduler that keeps work for a host at its limit waits for a slot to come back. ``acquire`` answers in one
call either a slot or why not (``Refusal``: at the limit, or how long a pause or the minimum delay still holds), and
``watch_releases`` tells it when another process gives a slot back (the shared gate publishes every release on a
Redis channel), so that it neither polls the gate nor asks it about hosts it knows to be full.

When Redis cannot be reached, ``RedisHostGate.try_acquire``, ``acquire``, ``renew``, ``pause`` and ``ready_in`` raise
``HostGateUnavailable``; they never fall back to a per-process count, which would multiply the connections to
each host by the number of consumers. ``release`` never raises: a slot it could not return expires by itself.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import redis

logger = logging.getLogger("medianalyse.hosts")


def host_key(url: str) -> str:
    """The lower-cased host name of ``url`` (IPv6 without brackets, no trailing dot), ``""`` if it has none.

    Non-ASCII names are IDNA-encoded, so ``bücher.example`` and ``xn--bcher-kva.example`` are one host.
    """
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return ""
    if not host:
        return ""
    host = host.rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return host.lower()


@dataclass(frozen=True)
class Refusal:
    """Why ``acquire`` granted no slot: the host is at its limit, or it is paused or within its minimum delay."""

    at_limit: bool
    wait: float = 0.0  # seconds before time alone may let a slot be granted (0 at the limit: a release will)


@dataclass(frozen=True)
class HostSlot:
    """Permission to open one request to ``host``; give it back with ``HostGate.release``."""

    host: str
    token: str


class HostGateUnavailable(Exception):
    """The shared gate could not be asked (Redis unreachable or failing): nothing was granted or recorded.

    Not a media's failure: the caller may wait and ask again, or stop.
    """


class HostGate(Protocol):
    def try_acquire(self, host: str) -> HostSlot | None:
        """A slot for ``host``, or None while it is at its limit, paused, or within its minimum delay.

        Never blocks. Granting a slot records the start of a request to ``host``.
        """
        ...

    def acquire(self, host: str) -> HostSlot | Refusal:
        """``try_acquire`` that says why it refused, in the same call."""
        ...

    def renew(self, slot: HostSlot) -> HostSlot | Refusal:
        """Keep ``slot`` for another request to its host: ``slot`` itself, or why not.

        Granting records the start of a request (for the minimum delay) and, in the shared gate, moves the slot's
        expiry a whole ``slot_ttl`` forward. Refused while the host is paused or within its minimum delay, and
        (``at_limit``) when the slot is no longer held (expired): the caller then releases it.
        """
        ...

    def release(self, slot: HostSlot) -> None:
        """Give ``slot`` back; releasing it again does nothing."""
        ...

    def watch_releases(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(host)`` (on a thread of the gate's) when another process releases a slot of ``host``.

        A hint, never a guarantee: a release may go unheard (a lost connection), so a waiter still asks again
        after a while. A gate that only this process uses hears nothing: its releases are the caller's own.
        """
        ...

    def pause(self, host: str, seconds: float) -> None:
        """Grant no slot for ``host`` before ``seconds`` from now; a pause ending later is kept."""
        ...

    def ready_in(self, host: str) -> float:
        """A hint: seconds until ``try_acquire(host)`` may succeed, 0 when it may now."""
        ...


@dataclass
class _HostState:
    holders: set[str] = field(default_factory=set)
    last_start: float | None = None
    paused_until: float = float("-inf")


class LocalHostGate:
    """A ``HostGate`` for the threads of this process. Thread-safe.

    At the concurrency limit, when the next free slot depends on a release, ``ready_in`` answers ``busy_hint``.
    """

    busy_hint = 0.05
    # Idle hosts are forgotten when the table has grown this much since the last sweep.
    _sweep_floor = 1024

    def __init__(self, limit: int, min_delay: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if min_delay < 0:
            raise ValueError(f"min_delay must not be negative, not {min_delay}")
        self.limit = limit
        self.min_delay = float(min_delay)
        self._clock = clock
        self._lock = threading.Lock()
        self._hosts: dict[str, _HostState] = {}
        self._sweep_at = self._sweep_floor

    def _wait(self, state: _HostState, now: float) -> float:
        """Seconds before a slot may start, counting the pause and the minimum delay only."""
        wait = state.paused_until - now
        if state.last_start is not None and self.min_delay > 0:
            wait = max(wait, state.last_start + self.min_delay - now)
        return max(wait, 0.0)

    def _state(self, host: str, now: float) -> _HostState:
        """The host's state, added (after dropping idle hosts) when it has none. Called with the lock held."""
        state = self._hosts.get(host)
        if state is None:
            self._sweep(now)
            state = self._hosts[host] = _HostState()
        return state

    def try_acquire(self, host: str) -> HostSlot | None:
        answer = self.acquire(host)
        return answer if isinstance(answer, HostSlot) else None

    def acquire(self, host: str) -> HostSlot | Refusal:
        with self._lock:
            now = self._clock()
            state = self._state(host, now)
            wait = self._wait(state, now)
            if wait > 0:
                return Refusal(at_limit=False, wait=wait)
            if len(state.holders) >= self.limit:
                return Refusal(at_limit=True)
            slot = HostSlot(host, uuid.uuid4().hex)
            state.holders.add(slot.token)
            state.last_start = now
            return slot

    def renew(self, slot: HostSlot) -> HostSlot | Refusal:
        with self._lock:
            now = self._clock()
            state = self._hosts.get(slot.host)
            if state is None or slot.token not in state.holders:
                return Refusal(at_limit=True)
            wait = self._wait(state, now)
            if wait > 0:
                return Refusal(at_limit=False, wait=wait)
            state.last_start = now
            return slot

    def watch_releases(self, callback: Callable[[str], None]) -> None:
        """Nothing to hear: every slot of this gate is released by its own caller."""

    def release(self, slot: HostSlot) -> None:
        with self._lock:
            state = self._hosts.get(slot.host)
            if state is not None:
                state.holders.discard(slot.token)

    def pause(self, host: str, seconds: float) -> None:
        with self._lock:
            now = self._clock()
            state = self._state(host, now)
            state.paused_until = max(state.paused_until, now + max(float(seconds), 0.0))

    def ready_in(self, host: str) -> float:
        with self._lock:
            state = self._hosts.get(host)
            if state is None:
                return 0.0
            wait = self._wait(state, self._clock())
            if len(state.holders) >= self.limit:
                wait = max(wait, self.busy_hint)
            return wait

    def _sweep(self, now: float) -> None:
        # Called with the lock held, before adding a host: forget hosts with no holder, no pause and no delay
        # left, so a land of a million hosts does not keep a million entries. Amortised: the table must double.
        if len(self._hosts) < self._sweep_at:
            return
        idle = [host for host, state in self._hosts.items() if not state.holders and self._wait(state, now) <= 0]
        for host in idle:
            del self._hosts[host]
        self._sweep_at = max(self._sweep_floor, 2 * len(self._hosts))


# Keys of one host: "{prefix}{<host>}:slots" (sorted set: token -> expiry in server milliseconds) and
# "{prefix}{<host>}:meta" (hash: "last", the start of the latest request; "pause", the end of the pause).
# The braces make both keys of a host one hash slot on a Redis Cluster.
#
# Every script reads the server's clock. Redis 7 replicates a script's effects, never the script itself;
# replicate_commands() asks the same of Redis 3.2 to 6, where TIME before a write needs it.
_CLOCK = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# The wait imposed by the pause and the minimum delay (KEYS[2] the meta hash, ARGV[2] the delay in ms).
_WAIT = """
local function wait_ms(meta, delay)
  local wait = 0
  local pause = tonumber(redis.call('HGET', meta, 'pause') or '0')
  if pause > now then wait = pause - now end
  if delay > 0 then
    local last = tonumber(redis.call('HGET', meta, 'last') or '')
    if last and last + delay > now and last + delay - now > wait then wait = last + delay - now end
  end
  return wait
end
"""

# After a slot is taken or renewed: the host's keys live as long as their slot and its delay, and the request's start
# is the last one the minimum delay counts from.
_STAMP = """
local function stamp(slots, meta, delay, ttl)
  local left = redis.call('PTTL', slots)
  if left < ttl then redis.call('PEXPIRE', slots, ttl) end
  if delay > 0 then
    redis.call('HSET', meta, 'last', now)
    left = redis.call('PTTL', meta)
    if left < delay then redis.call('PEXPIRE', meta, delay) end
  end
end
"""

# KEYS: slots, meta. ARGV: token, limit, min delay (ms), slot ttl (ms).
# Returns {1, 0} when granted, {0, wait ms} when paused or too early, {0, -1} at the limit.
_ACQUIRE = (
    _CLOCK
    + _WAIT
    + _STAMP
    + """
local slots, meta = KEYS[1], KEYS[2]
local limit, delay, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
local wait = wait_ms(meta, delay)
if wait > 0 then return {0, wait} end
if redis.call('ZCARD', slots) >= limit then return {0, -1} end
redis.call('ZADD', slots, now + ttl, ARGV[1])
stamp(slots, meta, delay, ttl)
return {1, 0}
"""
)

# KEYS: slots, meta. ARGV: token, min delay (ms), slot ttl (ms).
# Returns {1, 0} when the slot is kept (its expiry moved forward), {0, wait ms} when paused or too early, {0, -1} when
# the slot is no longer held.
_RENEW = (
    _CLOCK
    + _WAIT
    + _STAMP
    + """
local slots, meta = KEYS[1], KEYS[2]
local delay, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local expiry = redis.call('ZSCORE', slots, ARGV[1])
if not expiry or tonumber(expiry) <= now then return {0, -1} end
local wait = wait_ms(meta, delay)
if wait > 0 then return {0, wait} end
redis.call('ZADD', slots, 'XX', now + ttl, ARGV[1])
stamp(slots, meta, delay, ttl)
return {1, 0}
"""
)

# KEYS: meta. ARGV: pause (ms).
_PAUSE = (
    _CLOCK
    + """
local meta, span = KEYS[1], tonumber(ARGV[1])
if span <= 0 then return 0 end
local current = tonumber(redis.call('HGET', meta, 'pause') or '0')
if current < now + span then redis.call('HSET', meta, 'pause', now + span) end
local left = redis.call('PTTL', meta)
if left < span then redis.call('PEXPIRE', meta, span) end
return 1
"""
)

# KEYS: slots, meta. ARGV: limit, min delay (ms). Returns {wait ms, 1 when at the limit else 0}; writes nothing.
_READY_IN = (
    _CLOCK
    + _WAIT
    + """
local live = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local busy = 0
if live >= tonumber(ARGV[1]) then busy = 1 end
return {wait_ms(KEYS[2], tonumber(ARGV[2])), busy}
"""
)


# KEYS: slots. ARGV: token, channel, message. Publishes the message only when the token held a slot.
_RELEASE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
"""


def _text(data: bytes | str) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


# Longest span the scripts are given, so that every millisecond value stays an exact integer in Lua.
_MAX_SPAN = 30 * 86400.0


def _ms(seconds: float) -> int:
    return round(min(max(seconds, 0.0), _MAX_SPAN) * 1000)


class RedisHostGate:
    """A ``HostGate`` shared by every process using the same Redis and ``prefix``.

    ``slot_ttl`` must exceed the longest time a slot is held (the download deadline and then some): a slot
    not released by then is taken to belong to a process that died, and freed. Raises ``HostGateUnavailable``
    when Redis fails (see the module docstring). ``ready_in`` answers ``busy_hint`` at the concurrency limit,
    since a slot may be released at any time by another process.
    """

    busy_hint = 0.25

    def __init__(
        self,
        client: redis.Redis,
        limit: int,
        min_delay: float = 0.0,
        slot_ttl: float = 300.0,
        prefix: str = "medianalyse:hosts:",
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if min_delay < 0:
            raise ValueError(f"min_delay must not be negative, not {min_delay}")
        if slot_ttl <= 0:
            raise ValueError(f"slot_ttl must be positive, not {slot_ttl}")
        self.client = client
        self.limit = limit
        self.min_delay = float(min_delay)
        self.slot_ttl = float(slot_ttl)
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._pause = client.register_script(_PAUSE)
        self._ready_in = client.register_script(_READY_IN)
        # Releases are published as "<this gate's id> <host>", so that a gate ignores its own.
        self.channel = f"{prefix}released"
        self._id = uuid.uuid4().hex
        self._watchers: list[Callable[[str], None]] = []
        self._watch_lock = threading.Lock()
        self._watching = False

    def keys(self, host: str) -> tuple[str, str]:
        """The Redis keys of ``host``: its slots and its timings."""
        base = f"{self.prefix}{{{host}}}"
        return f"{base}:slots", f"{base}:meta"

    def try_acquire(self, host: str) -> HostSlot | None:
        answer = self.acquire(host)
        return answer if isinstance(answer, HostSlot) else None

    def acquire(self, host: str) -> HostSlot | Refusal:
        token = uuid.uuid4().hex
        args: list[str | int] = [token, self.limit, _ms(self.min_delay), max(_ms(self.slot_ttl), 1)]
        try:
            granted, wait = self._acquire(keys=list(self.keys(host)), args=args)
        except redis.RedisError as exc:
            raise HostGateUnavailable(f"cannot ask Redis for a slot of {host}: {exc}") from exc
        if int(granted) == 1:
            return HostSlot(host, token)
        wait = int(wait)
        return Refusal(at_limit=True) if wait < 0 else Refusal(at_limit=False, wait=wait / 1000)

    def renew(self, slot: HostSlot) -> HostSlot | Refusal:
        args: list[str | int] = [slot.token, _ms(self.min_delay), max(_ms(self.slot_ttl), 1)]
        try:
            kept, wait = self._renew(keys=list(self.keys(slot.host)), args=args)
        except redis.RedisError as exc:
            raise HostGateUnavailable(f"cannot ask Redis to keep a slot of {slot.host}: {exc}") from exc
        if int(kept) == 1:
            return slot
        wait = int(wait)
        return Refusal(at_limit=True) if wait < 0 else Refusal(at_limit=False, wait=wait / 1000)

    def release(self, slot: HostSlot) -> None:
        try:
            self._release(keys=[self.keys(slot.host)[0]], args=[slot.token, self.channel, f"{self._id} {slot.host}"])
        except redis.RedisError as exc:
            logger.warning("cannot release a slot of %s (it expires after %g s): %s", slot.host, self.slot_ttl, exc)

    def watch_releases(self, callback: Callable[[str], None]) -> None:
        with self._watch_lock:
            self._watchers.append(callback)
            if self._watching:
                return
            self._watching = True
        threading.Thread(target=self._listen, name="host-gate-releases", daemon=True).start()

    def _listen(self) -> None:
        """Hear the releases published by the other gates, for ever; resubscribe after a failure."""
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    sender, _, host = _text(message["data"]).partition(" ")
                    if sender == self._id or not host:
                        continue
                    with self._watch_lock:
                        watchers = list(self._watchers)
                    for watcher in watchers:
                        try:
                            watcher(host)
                        except Exception:
                            logger.exception("a watcher of the releases of %s failed", host)
            except Exception as exc:
                # Unheard releases only delay the waiters until they ask again (a client closed under the
                # listener raises ValueError from its socket, not a RedisError).
                logger.warning("not hearing the host gate's releases (%s); trying again", exc)
                time.sleep(1.0)
            finally:
                try:
                    pubsub.close()
                except Exception:
                    logger.debug("closing the subscription to the releases failed", exc_info=True)

    def pause(self, host: str, seconds: float) -> None:
        try:
            self._pause(keys=[self.keys(host)[1]], args=[_ms(seconds)])
        except redis.RedisError as exc:
            raise HostGateUnavailable(f"cannot record a pause of {host}: {exc}") from exc

    def ready_in(self, host: str) -> float:
        try:
            wait, busy = self._ready_in(keys=list(self.keys(host)), args=[self.limit, _ms(self.min_delay)])
        except redis.RedisError as exc:
            raise HostGateUnavailable(f"cannot ask Redis about {host}: {exc}") from exc
        seconds = int(wait) / 1000
        return max(seconds, self.busy_hint) if int(busy) else seconds
