"""The host gate and robots.txt cache of this process, built from the settings."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from media_analysis.engine.fetch.hosts import HostGate, LocalHostGate

_lock = threading.Lock()
_gate: tuple[tuple[int, float], LocalHostGate] | None = None


def host_gate() -> HostGate:
    """One process-wide gate, rebuilt when its settings change."""
    global _gate
    wanted = (settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY, settings.MEDIA_ANALYSIS_PER_HOST_DELAY)
    with _lock:
        if _gate is None or _gate[0] != wanted:
            _gate = (wanted, LocalHostGate(*wanted))
        return _gate[1]


def robots_cache() -> Any:
    """None: robots.txt is not consulted."""
    return None
