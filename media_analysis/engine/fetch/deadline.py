"""The wall-clock deadline of one download, seen by every layer that may wait.

``download`` and ``probe`` open a ``deadline_scope``; inside it, the session's
connections and its retry policy read ``time_left()``:

* connecting (and the TLS handshake, which Python bounds by the socket's
  timeout as a whole) gets at most the time left;
* every socket read of the response, header lines as well as body, gets a
  timeout that shrinks to the time left, so a server dripping one byte per
  read timeout is cut at the deadline, not after the next silence;
* a retry wait (backoff or ``Retry-After``) that would end past the deadline
  is not started.

A context variable rather than an argument: urllib3 calls the connection and
the retry policy without any per-request context, and each download thread
has its own context, so concurrent downloads never see each other's deadline.
Outside a scope (the session used directly) nothing changes.

``silence_scope`` shortens the socket reads inside it the same way, to a
limit of their own: the reading of a body uses it for the wait between the
headers and the body's first bytes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    ends_at: float  # time.monotonic() value
    seconds: float  # the whole budget, for messages


_current: ContextVar[Budget | None] = ContextVar("download_deadline", default=None)
_silence: ContextVar[float | None] = ContextVar("read_silence_limit", default=None)


@contextmanager
def deadline_scope(seconds: float) -> Iterator[Budget]:
    """Bound everything the session does in this block to ``seconds`` from now."""
    budget = Budget(time.monotonic() + seconds, seconds)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


@contextmanager
def silence_scope(seconds: float | None) -> Iterator[None]:
    """Bound every socket read in this block to ``seconds`` of silence (None: no bound of its own)."""
    token = _silence.set(seconds if seconds and seconds > 0 else None)
    try:
        yield
    finally:
        _silence.reset(token)


def current_budget() -> Budget | None:
    return _current.get()


def time_left() -> float | None:
    """Seconds left before the current download's deadline (may be negative); None outside a scope."""
    budget = _current.get()
    return None if budget is None else budget.ends_at - time.monotonic()


def bounded(timeout: float | None) -> float | None:
    """``timeout`` shortened to the time left and to any silence limit.

    At least a tick, so that a socket stays in timeout mode.
    """
    silence = _silence.get()
    if silence is not None:
        timeout = silence if timeout is None else min(timeout, silence)
    left = time_left()
    if left is None:
        return timeout
    left = max(left, 0.001)
    return left if timeout is None else min(timeout, left)
