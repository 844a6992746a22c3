"""An optional trace of the download pipeline's events, to find where a job's time goes.

Off unless ``MEDIA_ANALYSIS_PIPELINE_TRACE`` names a directory. Each process then appends one JSON object per
event to ``pipeline-<pid>.jsonl`` there: ``{"t": <wall clock, seconds>, "e": <kind>, ...}``. Wall-clock times, so
that the traces of several consumers on one machine line up. Events are buffered and written in blocks (after each
batch completes, and when the buffer fills), so a trace costs a few microseconds per event and no write per request.

Kinds of events (fields besides ``t`` and ``e``):

* ``submit``: a batch queued: ``chunk``, ``urls``, ``conditional`` (of those URLs), ``hosts`` (URLs per host);
* ``start`` / ``end``: one request, ``host``, ``chunk``, ``cond`` (conditional); ``start`` adds ``url``; ``end``
  adds ``kind`` (``unchanged``, ``body``, ``failed``, ``throttled``), ``run`` (seconds from the dispatch to its
  thread running) and ``fetch`` (seconds from the request's start to its outcome, before the slot is released);
* ``ready``: a batch's last URL has its outcome; ``written``: its callback (writing the rows, counting the chunk)
  ran for ``seconds``;
* ``room``: a worker waited ``seconds`` for room before submitting a chunk;
* ``dispatch``: the dispatcher's counters since its previous ``dispatch`` event: ``acquire`` (gate asked for a
  slot), ``granted``, ``hint`` (asked how long to wait), ``gate_seconds`` (spent asking), ``sleeps``,
  ``woken`` (sleeps ended by an event rather than their timeout), ``skipped`` (hosts passed over without asking
  the gate, known to be at their limit);
* ``released``: a release of a slot of the shared gate heard from another process (``host``).

``bench/pipeline_trace.py`` reads such a directory and prints a job's timeline.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings

# Events kept in memory before they are written.
BUFFER = 2048


class Trace:
    """Appends events to ``<directory>/pipeline-<pid>.jsonl``. Thread-safe."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / f"pipeline-{os.getpid()}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._buffer: list[str] = []
        atexit.register(self.flush)

    def event(self, name: str, /, **fields: Any) -> None:
        line = json.dumps({"t": round(time.time(), 6), "e": name, **fields}, separators=(",", ":"))
        with self._lock:
            self._buffer.append(line)
            full = len(self._buffer) >= BUFFER
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._buffer = self._buffer, []
            if lines:
                with self.path.open("a", encoding="utf-8") as out:
                    out.write("\n".join(lines) + "\n")


def pipeline_trace() -> Trace | None:
    """The trace the settings ask for (a new one per pipeline), or None."""
    directory = settings.MEDIA_ANALYSIS_PIPELINE_TRACE
    return Trace(directory) if directory else None
