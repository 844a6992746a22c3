"""The download pipeline of a process: many downloads in flight, polite per host, feeding the analysis threads.

One ``Pipeline`` per process (``pipeline()``), shared by every chunk the
process runs. Waiting on the network is decoupled from computing:

* ``submit`` groups a batch's media by URL (one download per distinct URL; its
  outcome goes to every media of that URL) and queues them per host.
* A dispatcher thread starts downloads round-robin across the hosts whose
  ``HostGate`` grants a slot, while the downloads in flight stay under
  ``MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY``, the bytes held (being received,
  or received and not yet analysed) under ``MEDIA_ANALYSIS_BYTES_IN_FLIGHT``
  and the bodies waiting for analysis under a few per analysis thread, in
  number and in bytes. Nor does one start while the bodies waiting, and those
  of the downloads in flight, are more than the analyses take in during a
  download (their measured rate times a download's measured duration, with a
  margin) beyond those few: the downloads are paced by the analyses, so
  that the bodies held reach their steady amount within seconds and stay
  there in a job of any length, instead of filling up in bursts as all the
  slots start at once. A stalled download still holds only its own place.
  Conditional requests (a re-analysis sending validators) are counted apart,
  under ``MEDIA_ANALYSIS_REVALIDATION_CONCURRENCY``: most are answered 304,
  bring no body and only wait on the site, so they reserve no bytes and do not
  wait for the analyses; the byte budget still bounds when they start.
  When nothing can start it sleeps until an event that may let a download
  start (work queued, a download ended, bodies analysed, as its reason for
  waiting needs), or until the gate says a host will be ready. Workers
  waiting for room (``wait_for_room``) wait on a condition of their own,
  woken when a download starts and one of them has room.
* Each download runs on a thread of its slot. A slot of the gate is a connection: when a download ends and
  the same host has work that may start at once, the thread renews the slot and runs that work on the same
  kept connection; otherwise it closes the process's idle connections to the host beyond its other slots, then
  releases the slot. So a host never sees more connections than the per-host limit, idle ones included,
  across consumers.
* Each download ends within the download deadline.
  An image's body (with its SHA-256, taken on the download thread) goes to the
  lookup thread, which takes every body waiting at once (and, while every
  analysis thread has a body waiting, those arriving for a moment more) and
  asks the database in one query which of their contents the current analysis
  already analysed: those copy the stored values ("reused"). A content being analysed in this
  process right now, or analysed by it a moment ago (its row not written yet),
  is not analysed twice either: the later media wait for, or copy, that
  analysis. The rest waits in the analysis queue (bounded by the byte budget
  and by its length) for one of the analysis threads, which never wait on the
  database. Video and audio are probed on the download thread. A 429 or 503
  pauses its host in the gate and puts the media back in its host's queue, a
  few times and within its deadline.
* When every URL of a batch has its outcome, the batch's callback runs on the
  completion thread (a chunk's: write the rows, count them, enqueue what
  follows). A callback that fails is logged; the pipeline goes on.
* A heartbeat thread renews the claim of every chunk in flight in one UPDATE,
  and notices cancelled jobs: their media not yet started are dropped as
  skipped, so their chunks complete at once with exact counts.

A stalled download holds only its own media (and its host slot) until its
deadline; the rest of its chunk and the next chunks go on around it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from queue import Empty, SimpleQueue

import requests
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from lands.models import MediaType
from media_analysis.engine.errors import MediaFailure, Throttled
from media_analysis.engine.fetch import DownloadPolicy, Validators
from media_analysis.engine.fetch.hosts import (
    HostGate,
    HostGateUnavailable,
    HostSlot,
    LocalHostGate,
    Refusal,
    host_key,
)
from media_analysis.engine.fetch.robots import check_robots
from media_analysis.engine.fetch.session import trim_connections
from media_analysis.engine.image import AnalysisOptions
from media_analysis.jobs import batch as media_batch
from media_analysis.jobs import metrics, trace, worker
from media_analysis.jobs.batch import Fetched, MediaOutcome
from media_analysis.jobs.hosts import host_gate, per_host_concurrency, robots_cache

logger = logging.getLogger("medianalyse.pipeline")

# media id, url, media type, and the validators of its stored values (None: an unconditional request)
Item = tuple[int, str, str, Validators | None]
OnOutcomes = Callable[[list[MediaOutcome]], None]

# A throttled media is tried again after its host's pause, at most this many times in all.
THROTTLED_ATTEMPTS = 5
# Pause of a host that answered 429/503 without a usable Retry-After.
DEFAULT_THROTTLE_PAUSE = 5.0
# How long the dispatcher leaves a host that the shared gate found at its limit with other processes' slots before
# asking again, when no release of it is heard meanwhile (a release missed, a dead holder's slot expiring).
FULL_RECHECK = 0.5
# How long downloads wait before asking a shared host gate that did not answer again.
GATE_RETRY = 1.0
# How often the heartbeat looks for cancelled jobs.
STATUS_REFRESH = 1.0
# Bodies waiting for or in analysis, per analysis thread, past which no download starts (and their bytes, past as
# many bodies of the mean size): enough to keep the analyses fed, while the slow tail of the downloads still runs
# beside them.
ANALYSIS_BACKLOG_PER_THREAD = 4
# Downloads started ahead of the analyses, beyond that backlog: the bodies the analyses take in during one download
# (their rate times a download's mean duration), times this margin for the spread of both.
ARRIVALS_MARGIN = 1.5
# What the pace assumes until it has measured them: seconds of an analysis thread per body, seconds per download.
# Estimates that start low on downloads ahead: a first burst would set a short job's peak as high as a long one's.
INITIAL_ANALYSIS_SECONDS = 0.05
INITIAL_DOWNLOAD_SECONDS = 0.5
# Weight of the latest value in the moving means of the body size, the analysis and the download seconds.
MEAN_WEIGHT = 1 / 16
# What a starting image download is assumed to bring until its bytes arrive; then a moving mean of the bodies.
INITIAL_BODY_ESTIMATE = 256 * 1024
# Bodies the lookup thread checks against the database in one query, at most.
LOOKUP_BATCH = 500
# Analyses of this process kept, until their rows are written, for the same content met again meanwhile.
RECENT_ANALYSES = 4096
# The lookup thread closes its database session after this many idle seconds.
LOOKUP_IDLE_CLOSE = 5.0
# While every analysis thread has a body waiting, the lookup thread gathers the bodies arriving for up to this
# long before its query: the analyses lose nothing, and a land of distinct bytes costs one query per many bodies.
LOOKUP_GATHER = 0.25
# How often a gathering lookup thread checks that the analysis threads still have work.
LOOKUP_POLL = 0.02
# After a batch completes, the C allocator's free pages are handed back to the kernel, at most this often: the
# pages a long run leaves free all through the arenas do not pile up, and the buffers reused between two trims
# are faulted in again only once per interval.
TRIM_INTERVAL = 30.0

# What the dispatcher waits for when it cannot start a download; an event wakes it only if it may start one.
WAKE_WORK = 1  # work queued, or a cancellation to apply
WAKE_SLOT = 2  # a host slot released
WAKE_IN_FLIGHT = 4  # a download ended
WAKE_BODIES = 8  # bytes or bodies waiting for analysis released


@dataclass(eq=False)
class _Batch:
    on_outcomes: OnOutcomes
    policy: DownloadPolicy
    options: AnalysisOptions
    job_id: int | None
    chunk_id: int | None
    claimed_by: str | None
    reuse: bool = True  # values stored by earlier analyses of the same bytes may be copied (not with force)
    remaining: int = 0
    outcomes: list[MediaOutcome] = field(default_factory=list)
    analysed_contents: list[tuple[str, AnalysisOptions]] = field(default_factory=list)  # kept until written


@dataclass(eq=False)
class _Work:
    """One distinct URL of a batch, and the media that share it."""

    batch: _Batch
    url: str
    media_type: str
    media_ids: list[int]
    host: str
    validators: Validators | None = None
    attempts: int = 0
    first_started: float | None = None
    started: float = 0.0  # its latest attempt's start (monotonic)
    received: int = 0
    reserved: int = 0  # counted in the budget from its start, until as many bytes have arrived
    trace_id: int = 0  # its latest request's number in the trace, when there is one
    trace_started: float = 0.0  # when its latest request was dispatched (monotonic; trace on)
    seconds: float | None = None  # how long its latest request took
    queued: int = 0  # its place in its host's queue (lower goes first)
    # Its latest attempt ran out of time: queued at the front of its host's line, and started without waiting for
    # the analyses, so that if it stalls again its wait runs beside the rest of the job rather than at its end.
    urgent: bool = False

    @property
    def held(self) -> int:
        return max(self.received, self.reserved)

    @property
    def conditional(self) -> bool:
        return bool(self.validators)


class _HostQueue:
    """A host's queued URLs, in two lines: conditional requests and the others.

    Each kind has its own limits (downloads in flight and bodies waiting for analysis, or conditional requests in
    flight), so a download with no room must not hold up the conditional requests queued behind it, nor the
    reverse. Within a line, and between the two when both may start, the URL queued first goes first.
    """

    __slots__ = ("conditional", "plain")

    def __init__(self) -> None:
        self.plain: deque[_Work] = deque()
        self.conditional: deque[_Work] = deque()

    def __bool__(self) -> bool:
        return bool(self.plain or self.conditional)

    def line(self, work: _Work) -> deque[_Work]:
        return self.conditional if work.conditional else self.plain

    def next_line(self, plain: bool, conditional: bool, urgent: bool = False) -> deque[_Work] | None:
        """The line whose head may start now (given which kinds have room, ``urgent``: room for an urgent
        download), or None."""
        head_plain = plain or (urgent and bool(self.plain) and self.plain[0].urgent)
        first = self.plain[0].queued if head_plain and self.plain else None
        second = self.conditional[0].queued if conditional and self.conditional else None
        if first is None:
            return None if second is None else self.conditional
        return self.plain if second is None or first <= second else self.conditional

    def works(self) -> list[_Work]:
        return [*self.plain, *self.conditional]


class Pipeline:
    def __init__(self) -> None:
        # One lock; a condition per kind of waiter, so that an event wakes only the threads it concerns.
        lock = threading.RLock()
        self._cond = threading.Condition(lock)  # the dispatcher
        self._room = threading.Condition(lock)  # workers waiting for room (``wait_for_room``)
        self._idle = threading.Condition(lock)  # ``drain``, waiting for the batches in flight
        self._dispatch_waits_for = 0  # WAKE_* events the sleeping dispatcher waits for (0: not sleeping)
        self._room_waiters: list[Callable[[], bool]] = []  # the room each waiting worker needs
        self._queues: dict[str, _HostQueue] = {}
        self._queued = 0  # places given in the hosts' queues: from 1 up at the back, from 0 down at the front
        self._queued_front = 0
        self._hosts: deque[str] = deque()  # hosts with queued work, in round-robin order
        self._backlog = 0  # URLs queued, not started
        self._backlog_conditional = 0  # of which conditional requests
        self._in_flight = 0
        self._in_flight_conditional = 0  # of which conditional requests
        self._bytes = 0
        self._body_estimate = float(INITIAL_BODY_ESTIMATE)
        self._analysing = 0  # bodies waiting for or in analysis
        self._analysing_bytes = 0  # their bytes
        # Moving means: an analysis thread's seconds per body it takes (none for a body whose values are copied),
        # and a download's seconds from its start to its end (downloads only, not conditional requests).
        self._analysis_seconds = INITIAL_ANALYSIS_SECONDS
        self._download_seconds = INITIAL_DOWNLOAD_SECONDS
        self._batches: set[_Batch] = set()
        self._chunks: dict[int, _Batch] = {}
        self._reserved: dict[int, str] = {}  # chunks claimed, waiting for room: their claimer
        self._cancelled: set[int] = set()
        self._cancel_pending = False  # queued work of a cancelled job may remain
        self._lookup: SimpleQueue[tuple[_Work, Fetched]] = SimpleQueue()
        self._analysis: SimpleQueue[tuple[_Work, Fetched]] = SimpleQueue()
        # Contents being analysed (SHA-256 and options), and the media waiting for that analysis (bodies dropped).
        self._pending: dict[tuple[str, AnalysisOptions], list[tuple[_Work, Fetched]]] = {}
        # Analyses of batches in flight, whose rows the database does not hold yet: content -> the
        # analysed outcome's fields and its batch. Dropped once the batch is written (then the database answers).
        self._recent: OrderedDict[tuple[str, AnalysisOptions], tuple[dict, _Batch]] = OrderedDict()
        self._completions: SimpleQueue[_Batch] = SimpleQueue()
        self._trimmed_at: float | None = None  # when the allocator's free pages were last handed back
        self._analysis_threads = 0
        self._closed = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._trace = trace.pipeline_trace()
        self._dispatch_counts: dict[str, float] = {}
        self._dispatch_counted = time.monotonic()
        self._trace_requests = 0
        self._held: dict[str, int] = {}  # slots of the gate this process holds, per host
        self._releasing: dict[str, int] = {}  # of which being given back (their connections closed first)
        # Hosts the gate refused (at the limit with other processes' slots, paused, within their delay): not
        # asked again before this time (monotonic), unless a release of the host is heard.
        self._not_before: dict[str, float] = {}
        self._watched_gate: HostGate | None = None
        # Bodies past a size go on into files, so that the bytes held in memory (what ``_bytes`` counts, within
        # the byte budget) no longer depend on which large bodies happen to coincide.
        self._spool = media_batch.body_spool()
        for target, name in (
            (self._dispatch_loop, "pipeline-dispatch"),
            (self._completion_loop, "pipeline-complete"),
            (self._heartbeat_loop, "pipeline-heartbeat"),
            (self._lookup_loop, "pipeline-lookup"),
        ):
            self._start_thread(target, name)

    # --- Submitting ---

    def submit(
        self,
        items: Iterable[Item],
        on_outcomes: OnOutcomes,
        *,
        job_id: int | None = None,
        chunk_id: int | None = None,
        claimed_by: str | None = None,
        reuse: bool = True,
        ocr: bool = False,
        urgent: Collection[int] = (),
    ) -> None:
        """Queue these media; ``on_outcomes`` gets one outcome per media once all have one (completion thread).

        With a ``chunk_id`` and ``claimed_by``, the chunk's claim is renewed
        while it is in the pipeline; with a ``job_id``, its media not yet
        started are skipped if the job stops running. Without ``reuse`` (a
        forced job), values stored by earlier analyses are never copied: only
        the batch's own analyses, and one of the same bytes running meanwhile.
        With ``ocr``, the text in the pictures is read too (and only analyses
        that read it are copied). The URLs of the media in ``urgent`` (their
        latest attempt timed out) go to the front of their hosts' queues and
        start without waiting for the analyses.
        """
        policy = replace(media_batch.download_policy(), defer_throttling=True)
        options = media_batch.analysis_options(ocr)
        batch = _Batch(on_outcomes, policy, options, job_id, chunk_id, claimed_by, reuse)
        groups: dict[tuple[str, str], list[int]] = {}
        sent: dict[tuple[str, str], Validators | None] = {}
        urgent_ids = set(urgent)
        urgent_keys: set[tuple[str, str]] = set()
        for media_id, url, media_type, validators in items:
            if media_id in urgent_ids:
                urgent_keys.add((url, media_type))
            key = (url, media_type)
            if key not in groups:
                groups[key] = []
                sent[key] = validators
            elif sent[key] != validators:
                # Rows of one URL holding different values: a 304 could keep only
                # some of them right, so the bytes are fetched again for all.
                sent[key] = None
            groups[key].append(media_id)
        batch.remaining = len(groups)
        media_batch.shared_session(policy)  # built here, not by the first download threads at once
        with self._cond:
            if self._closed:
                raise RuntimeError("the pipeline is shut down")
            self._grow_analysis_threads()
            self._batches.add(batch)
            if chunk_id is not None:
                self._reserved.pop(chunk_id, None)
                self._chunks[chunk_id] = batch
            if job_id in self._cancelled:
                self._cancel_pending = True
            per_host: dict[str, int] = {}
            conditional = 0
            for (url, media_type), media_ids in groups.items():
                work = _Work(batch, url, media_type, media_ids, host_key(url), sent[(url, media_type)])
                # Only a download may skip the analyses' room: a conditional request waits for none anyway.
                work.urgent = (url, media_type) in urgent_keys and not work.conditional
                self._enqueue(work, front=work.urgent)
                per_host[work.host] = per_host.get(work.host, 0) + 1
                conditional += work.conditional
            if self._trace:
                self._trace.event("submit", chunk=chunk_id, urls=len(groups), conditional=conditional, hosts=per_host)
            self._gauges()
            self._wake_dispatcher(WAKE_WORK)
        if not groups:
            self._completions.put(batch)

    def run(
        self,
        items: Sequence[Item],
        *,
        job_id: int | None = None,
        chunk_id: int | None = None,
        claimed_by: str | None = None,
        reuse: bool = True,
        ocr: bool = False,
    ) -> list[MediaOutcome]:
        """Submit and wait: the outcomes of these media, in no particular order."""
        done = threading.Event()
        outcomes: list[MediaOutcome] = []

        def finished(result: list[MediaOutcome]) -> None:
            outcomes.extend(result)
            done.set()

        self.submit(items, finished, job_id=job_id, chunk_id=chunk_id, claimed_by=claimed_by, reuse=reuse, ocr=ocr)
        done.wait()
        return outcomes

    def accepting(self) -> bool:
        """False once the process is stopping (``drain``): a chunk claimed now would wait for recovery."""
        with self._cond:
            return not self._closed

    def holds_chunk(self, chunk_id: int) -> bool:
        with self._cond:
            return chunk_id in self._chunks or chunk_id in self._reserved

    def reserve_chunk(self, chunk_id: int, claimed_by: str) -> bool:
        """Mark a chunk as this process's before it is claimed and submitted; False if it already is.

        A duplicate delivery of a chunk (a recovery that found it waiting for
        room, unclaimed) then does nothing, however the two deliveries interleave.
        Its claim is renewed from now on.
        """
        with self._cond:
            if chunk_id in self._chunks or chunk_id in self._reserved:
                return False
            self._reserved[chunk_id] = claimed_by
            return True

    def unreserve_chunk(self, chunk_id: int) -> None:
        with self._cond:
            self._reserved.pop(chunk_id, None)

    def backlog(self) -> int:
        """URLs queued and not started."""
        with self._cond:
            return self._backlog

    def wait_for_room(
        self,
        limit: int,
        conditional_limit: int | None = None,
        timeout: float | None = None,
        *,
        mostly_conditional: bool = False,
    ) -> bool:
        """Block while more than ``limit`` downloads wait to start (or ``conditional_limit`` conditional requests,
        when given, counted apart); False if still so after ``timeout``.

        With ``mostly_conditional`` (a chunk most of whose media are conditional requests), only the conditional
        requests waiting count: the few downloads such a chunk brings must not hold its requests back while
        earlier downloads wait for the analyses, and the conditional limit still bounds how far ahead a process
        takes chunks.
        """

        def room() -> bool:
            if self._closed:
                return True
            if conditional_limit is None:
                return self._backlog <= limit
            if mostly_conditional:
                return self._backlog_conditional <= conditional_limit
            return self._backlog - self._backlog_conditional <= limit and self._backlog_conditional <= conditional_limit

        with self._cond:
            if room():
                return True
            # Woken only when a download starts and this room (or another waiter's) is there, or on shutdown.
            self._room_waiters.append(room)
            waited = time.monotonic()
            try:
                return self._room.wait_for(room, timeout)
            finally:
                self._room_waiters.remove(room)
                if self._trace:
                    self._trace.event("room", seconds=round(time.monotonic() - waited, 6))

    def drain(self, timeout: float) -> bool:
        """Take no more work and wait up to ``timeout`` seconds for the batches in flight; True when none is left."""
        with self._cond:
            self._closed = True
            self._room.notify_all()
            return self._idle.wait_for(lambda: not self._batches, timeout)

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "backlog": self._backlog,
                "in_flight": self._in_flight,
                "bytes": self._bytes,
                "analysing": self._analysing,
                "analysing_bytes": self._analysing_bytes,
                "ahead": self._ahead_limit(),
                "batches": len(self._batches),
                "refused_hosts": len(self._not_before),  # hosts waiting for a release, or their pause, to end
                "spooled_bytes": self._spool.in_use if self._spool is not None else 0,
                "spooled_files": self._spool.files if self._spool is not None else 0,
            }

    # --- Waking ---

    def _wake_dispatcher(self, event: int) -> None:
        """Wake the dispatcher if it sleeps waiting for this kind of event (lock held)."""
        if self._dispatch_waits_for & event:
            self._dispatch_waits_for = 0
            self._cond.notify()

    def _dispatcher_sleep(self, events: int, timeout: float) -> None:
        """Sleep until one of ``events`` (or a cancellation) happens, or ``timeout`` passes (lock held)."""
        self._dispatch_waits_for = events | WAKE_WORK
        try:
            woken = self._cond.wait(timeout=timeout)
        finally:
            self._dispatch_waits_for = 0
        if self._trace:
            self._count("sleeps")
            if woken:
                self._count("woken")

    def _count(self, name: str, value: float = 1) -> None:
        """Add to a counter of the dispatcher's trace, and write the counters every half second (trace on)."""
        counts = self._dispatch_counts
        counts[name] = counts.get(name, 0) + value
        now = time.monotonic()
        if now - self._dispatch_counted >= 0.5 and self._trace:
            self._trace.event("dispatch", **{k: round(v, 6) for k, v in counts.items()})
            counts.clear()
            self._dispatch_counted = now

    def _wake_room_waiters(self) -> None:
        """After the backlog shrank: wake the workers waiting for room, if one of them has it now (lock held)."""
        if any(room() for room in self._room_waiters):
            self._room.notify_all()

    # --- Dispatching ---

    def _enqueue(self, work: _Work, front: bool = False) -> None:
        queue = self._queues.get(work.host)
        if queue is None:
            queue = self._queues[work.host] = _HostQueue()
            self._hosts.append(work.host)
        if front:
            self._queued_front -= 1
            work.queued = self._queued_front
            queue.line(work).appendleft(work)
        else:
            self._queued += 1
            work.queued = self._queued
            queue.line(work).append(work)
        self._backlog += 1
        self._backlog_conditional += work.conditional

    def _dispatch_loop(self) -> None:
        with self._cond:
            while not self._stop.is_set():
                self._drop_cancelled()
                plain, conditional, urgent = self._room_by_kind()
                if not self._hosts:
                    self._dispatcher_sleep(WAKE_WORK, 1.0)
                    continue
                if not (plain or conditional or urgent):
                    # Woken by a download ending (downloads in flight, bytes) or bodies analysed (bytes, bodies).
                    self._dispatcher_sleep(WAKE_IN_FLIGHT | WAKE_BODIES, 1.0)
                    continue
                gate = host_gate()
                if gate is not self._watched_gate:
                    # Releases by other processes wake the dispatcher when it waits for that host.
                    gate.watch_releases(self._heard_release)
                    self._watched_gate = gate
                limit = per_host_concurrency()
                now = time.monotonic()
                soonest: float | None = None
                eligible = False
                passed_over = False  # a host whose next media has no room: room released may let it start
                for _ in range(len(self._hosts)):
                    host = self._hosts[0]
                    self._hosts.rotate(-1)
                    line = self._queues[host].next_line(plain, conditional, urgent)
                    if line is None:
                        passed_over = True
                        continue
                    eligible = True
                    if self._held.get(host, 0) >= limit:
                        # Full with this process's own requests: one of them ending wakes us.
                        if self._trace:
                            self._count("skipped")
                        continue
                    not_before = self._not_before.get(host)
                    if not_before is not None:
                        if now < not_before:
                            # Refused a moment ago: asked again once a release of it is heard, or then.
                            if self._trace:
                                self._count("skipped")
                            soonest = not_before - now if soonest is None else min(soonest, not_before - now)
                            continue
                        del self._not_before[host]
                    try:
                        asked = time.perf_counter()
                        answer = self._ask_gate(gate, host)
                        if self._trace:
                            self._count("acquire")
                            self._count("granted", isinstance(answer, HostSlot))
                            self._count("gate_seconds", time.perf_counter() - asked)
                    except HostGateUnavailable:
                        # No slot without the shared gate: waiting keeps every consumer
                        # polite; the downloads' own deadlines still bound each media.
                        logger.warning("the host gate does not answer; downloads wait", exc_info=True)
                        self._dispatcher_sleep(0, GATE_RETRY)
                        break
                    if isinstance(answer, HostSlot):
                        # The lock was let go while the gate answered: what may start has to be asked again.
                        line = self._startable_line(host)
                        if line is None:
                            self._give_back(gate, answer)
                        else:
                            self._start(host, line, answer)
                        break
                    # At its limit (slots of other processes): a release heard, or the recheck, lets us ask again.
                    wait = FULL_RECHECK if answer.at_limit else max(answer.wait, 0.001)
                    self._not_before[host] = now + wait
                    soonest = wait if soonest is None else min(soonest, wait)
                else:
                    if not eligible:
                        # The next media of every host is of a kind that has no room: an ending wakes us.
                        self._dispatcher_sleep(WAKE_IN_FLIGHT | WAKE_BODIES, 1.0)
                        continue
                    # Every host with work is at its limit, paused or within its delay: a slot released here,
                    # or by another process (heard from the gate), wakes us.
                    wait = min(soonest, 1.0) if soonest is not None else 1.0
                    self._dispatcher_sleep(WAKE_SLOT | (WAKE_IN_FLIGHT | WAKE_BODIES if passed_over else 0), wait)

    def _backlog_limit(self) -> int:
        """Bodies waiting for or in analysis past which no download starts."""
        return ANALYSIS_BACKLOG_PER_THREAD * max(1, self._analysis_threads)

    def _ahead_limit(self) -> int:
        """Bodies waiting for or in analysis and downloads in flight, together, past which no download starts."""
        threads = max(1, self._analysis_threads)
        # The bodies the analyses take in while one download runs: a download started now arrives about when
        # those already started have been analysed. With copies only (no analysis time), the other limits hold.
        arrivals = threads * self._download_seconds / max(self._analysis_seconds, 1e-6)
        return self._backlog_limit() + int(ARRIVALS_MARGIN * min(arrivals, 1e6))

    def _analyses_have_room(self) -> bool:
        """May a download (not a conditional request) start, as far as the analyses are concerned? (lock held)

        The bodies received and not yet analysed stay under the backlog, in number and in bytes; with the
        downloads in flight, whose bodies are on their way, they stay under the ahead limit in number and in
        bytes (those of the bodies, received or reserved). Only new starts are held: downloads in flight go on.
        """
        backlog = self._backlog_limit()
        if self._analysing >= backlog or self._analysing_bytes >= backlog * self._body_estimate:
            return False
        ahead = self._ahead_limit()
        downloads = self._in_flight - self._in_flight_conditional
        return self._analysing + downloads < ahead and self._bytes < ahead * self._body_estimate

    def _ask_gate(self, gate: HostGate, host: str) -> HostSlot | Refusal:
        """``gate.acquire(host)``; a gate other than this process's own is asked without the pipeline's lock (held
        on entry and on return).

        The shared gate answers over the network: meanwhile the download threads ending, the analyses and the
        workers submitting must not wait for it. The process's own gate answers at once: letting the lock go
        would only send the dispatcher behind the threads waiting for it.
        """
        if isinstance(gate, LocalHostGate):
            return gate.acquire(host)
        with self._unlocked():
            return gate.acquire(host)

    def _give_back(self, gate: HostGate, slot: HostSlot) -> None:
        """Release a slot granted for work that can no longer start (lock held on entry and on return)."""
        if self._trace:
            self._count("given_back")
        with self._unlocked():
            gate.release(slot)

    @contextmanager
    def _unlocked(self) -> Iterator[None]:
        """The pipeline's lock let go for a call that may wait on the network (held on entry and on exit)."""
        self._cond.release()
        try:
            yield
        finally:
            self._cond.acquire()

    def _room_by_kind(self) -> tuple[bool, bool, bool]:
        """Whether a download, a conditional request, and an urgent download may start now (lock held)."""
        room = self._bytes < media_batch.bytes_in_flight()
        downloads = room and self._in_flight - self._in_flight_conditional < media_batch.download_concurrency()
        plain = downloads and self._analyses_have_room()
        conditional = room and self._in_flight_conditional < media_batch.revalidation_concurrency()
        # A download that timed out last time starts without waiting for the analyses.
        return plain, conditional, downloads

    def _startable_line(self, host: str) -> deque[_Work] | None:
        """The line of ``host`` whose head may start now, given the room of each kind, or None (lock held)."""
        queue = self._queues.get(host)
        if queue is None or self._stop.is_set():
            return None
        return queue.next_line(*self._room_by_kind())

    def _start(self, host: str, line: deque[_Work], slot: HostSlot) -> None:
        work = self._take_locked(host, line, new_slot=True)
        # A thread per slot: starting it hands the interpreter straight to it (the dispatcher waits for it
        # to run), where a thread waiting for requests, woken, waits for the interpreter behind the others.
        thread = threading.Thread(target=self._download, args=(work, slot), name="pipeline-download", daemon=True)
        thread.start()

    def _take_locked(self, host: str, line: deque[_Work], new_slot: bool) -> _Work:
        """Take the head of ``line`` (a queue of ``host``) to start it now, on a new slot or one kept (lock held)."""
        queue = self._queues[host]
        work = line.popleft()
        if not queue:
            del self._queues[host]
            if self._hosts and self._hosts[-1] == host:
                self._hosts.pop()  # rotated to the end of the round, the usual case
            else:
                self._hosts.remove(host)  # hosts queued while the gate was asked came after it
        self._backlog -= 1
        self._backlog_conditional -= work.conditional
        if new_slot:
            self._held[host] = self._held.get(host, 0) + 1
        work.started = time.monotonic()
        self._in_flight += 1
        self._in_flight_conditional += work.conditional
        # Reserved at once: many downloads starting together would otherwise all
        # pass the budget before any of their bytes arrived. A conditional request
        # expects no body: its bytes, if any, count as they arrive.
        expects_body = work.media_type == MediaType.IMAGE and not work.conditional
        work.reserved = int(self._body_estimate) if expects_body else 0
        self._bytes += work.reserved
        self._gauges()
        if self._room_waiters:
            self._wake_room_waiters()
        if self._trace:
            self._trace_requests += 1
            work.trace_id = self._trace_requests
            work.trace_started = time.monotonic()
            self._trace.event(
                "start",
                n=work.trace_id,
                host=host,
                chunk=work.batch.chunk_id,
                cond=work.conditional,
                url=work.url,
                kept=not new_slot,
            )
        return work

    def _drop_cancelled(self) -> None:
        if not self._cancel_pending:
            return
        self._cancel_pending = False
        dropped: list[_Work] = []
        for host in list(self._hosts):
            queue = self._queues[host]
            works = queue.works()
            gone = [w for w in works if w.batch.job_id in self._cancelled]
            if not gone:
                continue
            dropped.extend(gone)
            for line in (queue.plain, queue.conditional):
                kept = [w for w in line if w.batch.job_id not in self._cancelled]
                line.clear()
                line.extend(kept)
            if not queue:
                del self._queues[host]
                self._hosts.remove(host)
        self._backlog -= len(dropped)
        self._backlog_conditional -= sum(work.conditional for work in dropped)
        for work in dropped:
            self._record_locked(work, media_batch.skipped_outcome(work.media_ids[0], work.url, work.media_type))
        if dropped:
            self._gauges()
            self._wake_room_waiters()

    # --- Downloading ---

    def _download(self, work: _Work, slot: HostSlot) -> None:
        """Run ``work`` on ``slot``, then, on the same slot and connection, the next work of its host that may start.

        A slot is a connection: it is kept, with its keep-alive connection, while this process has work for its
        host that may start at once; otherwise the connection is closed, then the slot released. So the host
        never sees more connections (idle ones included) than slots, across every process sharing the gate.
        """
        gate = host_gate()
        current: _Work | None = work
        while current is not None:
            host, session = current.host, media_batch.shared_session(current.batch.policy)
            throttled = self._transfer(current, gate)
            try:
                current = None if throttled else self._follow_on(gate, slot, host)
            except Exception:
                # The slot must be given back whatever happened: a slot held for ever would close the host.
                logger.exception("could not keep the slot of %s for its next request", host)
                current = None
            if current is None:
                self._let_go(gate, slot, host, session)

    def _follow_on(self, gate: HostGate, slot: HostSlot, host: str) -> _Work | None:
        """The next work of ``host`` to run on ``slot`` now, or None: nothing of it may start, or the gate refuses
        to keep the slot (the host paused, within its minimum delay, or the slot expired)."""
        with self._cond:
            self._drop_cancelled()
            if self._startable_line(host) is None:
                return None
            if isinstance(gate, LocalHostGate):
                answer: HostSlot | Refusal | None = gate.renew(slot)
            else:
                with self._unlocked():
                    try:
                        answer = gate.renew(slot)
                    except HostGateUnavailable:
                        logger.warning("the host gate does not answer; the slot of %s is released", host, exc_info=True)
                        answer = None
            if self._trace:
                self._count("renew")
                self._count("kept", isinstance(answer, HostSlot))
            if not isinstance(answer, HostSlot):
                return None
            # The lock was let go while the gate answered: what may start has to be asked again.
            line = self._startable_line(host)
            if line is None:
                return None
            return self._take_locked(host, line, new_slot=False)

    def _let_go(self, gate: HostGate, slot: HostSlot, host: str, session: requests.Session) -> None:
        """Close this slot's connection, then release the slot, and let the dispatcher know."""
        with self._cond:
            # The other slots of this process for the host each keep one connection at most: the rest is closed
            # before the slot goes back, so that no other process's request finds it open. Slots of the host
            # being given back by other threads at the same moment keep none either.
            releasing = self._releasing.get(host, 0) + 1
            self._releasing[host] = releasing
            try:
                closed = trim_connections(session, host, self._held.get(host, 0) - releasing)
            except Exception:
                logger.exception("could not close the idle connections to %s", host)
                closed = 0
            if self._trace:
                self._count("closed", closed)
        gate.release(slot)
        with self._cond:
            held = self._held.get(host, 0) - 1
            if held > 0:
                self._held[host] = held
            else:
                self._held.pop(host, None)
            releasing = self._releasing.get(host, 0) - 1
            if releasing > 0:
                self._releasing[host] = releasing
            else:
                self._releasing.pop(host, None)
            self._not_before.pop(host, None)
            self._wake_dispatcher(WAKE_SLOT)

    def _transfer(self, work: _Work, gate: HostGate) -> bool:
        """Download ``work`` and hand its result on; whether it was throttled (its host paused)."""
        batch = work.batch
        running = time.monotonic()
        if work.first_started is None:
            work.first_started = running
        result: MediaOutcome | Fetched | Throttled
        requested: float | None = None
        fetched_at = running
        try:
            check_robots(robots_cache(), work.url)
            requested = time.monotonic()
            result = media_batch.fetch_one(
                work.media_ids[0],
                work.url,
                work.media_type,
                media_batch.shared_session(batch.policy),
                batch.policy,
                on_bytes=lambda size: self._received(work, size),
                validators=work.validators,
                spool=self._spool,
            )
        except Throttled as throttled:
            # Paused before the slot is released, so that no other download of the host slips in.
            try:
                gate.pause(work.host, throttled.retry_after or DEFAULT_THROTTLE_PAUSE)
            except HostGateUnavailable:
                logger.warning("could not pause host %s", work.host, exc_info=True)
            result = throttled
        except MediaFailure as failure:
            result = media_batch.failed_outcome(work.media_ids[0], work.url, work.media_type, failure)
        except Exception as exc:
            result = media_batch.unexpected_outcome(work.media_ids[0], work.url, work.media_type, exc)
        finally:
            fetched_at = time.monotonic()
        if requested is not None:
            work.seconds = fetched_at - requested
        if self._trace:
            kind: str = (
                "throttled"
                if isinstance(result, Throttled)
                else "body"
                if isinstance(result, Fetched)
                else str(getattr(result, "outcome", "failed"))
            )
            self._trace.event(
                "end",
                n=work.trace_id,
                host=work.host,
                chunk=batch.chunk_id,
                cond=work.conditional,
                kind=kind,
                run=round(running - work.trace_started, 6),
                fetch=round(fetched_at - (requested or running), 6),
            )
        outcome: MediaOutcome | None = None
        with self._cond:
            bytes_before = self._bytes
            events = WAKE_IN_FLIGHT
            self._in_flight -= 1
            self._in_flight_conditional -= work.conditional
            self._bytes -= work.held
            work.received = work.reserved = 0
            if not work.conditional and not isinstance(result, Throttled):
                self._download_seconds += (time.monotonic() - work.started - self._download_seconds) * MEAN_WEIGHT
            if isinstance(result, Throttled):
                work.attempts += 1
                wait = result.retry_after or DEFAULT_THROTTLE_PAUSE
                elapsed = time.monotonic() - work.first_started
                if work.attempts < THROTTLED_ATTEMPTS and elapsed + wait < batch.policy.deadline:
                    self._enqueue(work, front=True)
                    events |= WAKE_WORK
                else:
                    outcome = media_batch.failed_outcome(work.media_ids[0], work.url, work.media_type, result)
            elif isinstance(result, Fetched):
                self._bytes += result.in_memory
                # What a download holds in memory at most: a body on disk held the spool's threshold on its way.
                in_memory = self._spool.threshold if result.spooled is not None and self._spool else result.in_memory
                self._body_estimate += (in_memory - self._body_estimate) * MEAN_WEIGHT
                self._analysing += 1
                self._analysing_bytes += result.in_memory
                if media_batch.reuse_by_content():
                    self._lookup.put((work, result))
                else:
                    self._analysis.put((work, result))
            else:
                outcome = result
            if outcome is not None:
                self._record_locked(work, outcome)
            if self._bytes < bytes_before:
                events |= WAKE_BODIES
            self._gauges()
            self._wake_dispatcher(events)
        return isinstance(result, Throttled)

    def _heard_release(self, host: str) -> None:
        """Another process released a slot of ``host``: ask for it at once if work waits for it."""
        with self._cond:
            if self._not_before.pop(host, None) is not None:
                if self._trace:
                    self._trace.event("released", host=host)
                self._wake_dispatcher(WAKE_SLOT)

    def _received(self, work: _Work, size: int) -> None:
        """``size`` more (or, when moved to a file, fewer) bytes of ``work``'s body are held in memory."""
        received = work.received + size
        if received <= work.reserved and work.received <= work.reserved:
            # Within the bytes reserved at its start: the budget does not move, and no lock is needed, since only
            # this download's thread changes its ``received`` and ``reserved`` once it has started.
            work.received = received
            return
        with self._cond:
            before = work.held
            work.received += size
            self._bytes += work.held - before

    # --- Analysing ---

    def _grow_analysis_threads(self) -> None:
        wanted = media_batch.analysis_threads()
        while self._analysis_threads < wanted:
            self._analysis_threads += 1
            self._start_thread(self._analysis_loop, f"pipeline-analysis-{self._analysis_threads}")

    def _analysis_loop(self) -> None:
        while True:
            work, fetched = self._analysis.get()
            began = time.monotonic()
            key = (fetched.sha256, work.batch.options)

            def cancelled(work: _Work = work, key: tuple[str, AnalysisOptions] = key) -> bool:
                # A cancelled job's body need not wait for the decode budget, unless another job's media wait for
                # the same analysis (read without the lock: a stale answer only costs a wait, or is checked below).
                return work.batch.job_id in self._cancelled and not self._pending.get(key)

            outcome = media_batch.analyse_fetched(fetched, work.batch.options, give_up=cancelled)
            seconds = time.monotonic() - began
            if outcome is None:
                self._abandoned(work, fetched, key)
                continue
            with self._cond:
                self._analysis_seconds += (seconds - self._analysis_seconds) * MEAN_WEIGHT
                self._release_body_locked(fetched, analysed=True)
                self._record_locked(work, outcome)
                self._share_locked((fetched.sha256, work.batch.options), outcome, work.batch)
                self._gauges()
                self._wake_dispatcher(WAKE_BODIES)
            del fetched

    def _abandoned(self, work: _Work, fetched: Fetched, key: tuple[str, AnalysisOptions]) -> None:
        """A cancelled job's body that gave up its wait for the decode budget: skipped, not analysed."""
        with self._cond:
            if self._pending.get(key):
                # Media of another job began waiting for this analysis meanwhile: it is theirs now.
                self._analysis.put((work, fetched))
                return
            self._pending.pop(key, None)
            self._release_body_locked(fetched)
            self._record_locked(work, media_batch.skipped_outcome(fetched.media_id, fetched.url, fetched.media_type))
            self._gauges()
            self._wake_dispatcher(WAKE_BODIES)

    # --- Reusing analyses of the same bytes ---

    def _lookup_loop(self) -> None:
        while True:
            try:
                first = self._lookup.get(timeout=LOOKUP_IDLE_CLOSE)
            except Empty:
                connection.close()  # idle: no session left open
                continue
            taken = [first]
            gather_until = time.monotonic() + LOOKUP_GATHER
            while len(taken) < LOOKUP_BATCH:
                try:
                    taken.append(self._lookup.get_nowait())
                    continue
                except Empty:
                    pass
                # Nothing more waiting: wait for more only while no analysis thread would run out of work.
                left = gather_until - time.monotonic()
                if left <= 0 or self._analysis.qsize() < self._analysis_threads:
                    break
                try:
                    taken.append(self._lookup.get(timeout=min(left, LOOKUP_POLL)))
                except Empty:
                    continue
            self._look_up(taken)

    def _look_up(self, taken: list[tuple[_Work, Fetched]]) -> None:
        """Copy, wait for, or send to analysis each of these bodies; one query for those not known in process."""
        unknown: list[tuple[_Work, Fetched]] = []
        with self._cond:
            for work, fetched in taken:
                if not self._shared_locked(work, fetched):
                    unknown.append((work, fetched))
            if len(unknown) < len(taken):
                self._gauges()
                self._wake_dispatcher(WAKE_BODIES)
        stored: dict[str, dict] = {}
        asked = [fetched.sha256 for work, fetched in unknown if work.batch.reuse and work.batch.options.text is None]
        asked_text = [fetched.sha256 for work, fetched in unknown if work.batch.reuse and work.batch.options.text]
        stored_text: dict[str, dict] = {}
        if asked or asked_text:
            try:
                # The thread keeps its session while bodies keep coming (it closes it when idle, or after an
                # error): with the default CONN_MAX_AGE, close_old_connections here would open one per query.
                stored = media_batch.reusable_values(asked) if asked else {}
                stored_text = media_batch.reusable_values(asked_text, text=True) if asked_text else {}
            except Exception:
                # Reuse saves work, nothing more: without an answer these bodies are analysed.
                logger.warning("could not look up analyses of the same bytes", exc_info=True)
                connection.close()
        to_analyse: list[tuple[_Work, Fetched]] = []
        copied: list[tuple[_Work, Fetched, dict]] = []
        with self._cond:
            for work, fetched in unknown:
                found = stored_text if work.batch.options.text is not None else stored
                values = found.get(fetched.sha256) if work.batch.reuse else None
                if values is not None:
                    copied.append((work, fetched, values))
                elif not self._shared_locked(work, fetched):
                    # The first of this content: later ones wait for its analysis.
                    self._pending[(fetched.sha256, work.batch.options)] = []
                    to_analyse.append((work, fetched))
        for entry in to_analyse:
            self._analysis.put(entry)
        for work, fetched, values in copied:
            # Outside the lock: archiving an original writes to the storage.
            self._finish_reused(work, fetched, media_batch.reused_outcome(fetched, values))

    def _shared_locked(self, work: _Work, fetched: Fetched) -> bool:
        """Settle ``fetched`` from this process's analysis of the same content, if there is one: True if so."""
        if not fetched.sha256:
            return False
        key = (fetched.sha256, work.batch.options)
        waiting = self._pending.get(key)
        if waiting is not None:
            # Its bytes are not needed any more: the analysis under way gives the values.
            waiting.append((work, fetched.without_body()))
            self._release_body_locked(fetched)
            return True
        recent = self._recent.get(key)
        if recent is None or not (work.batch.reuse or recent[1] is work.batch):
            # A forced batch copies only its own analyses.
            return False
        self._release_body_locked(fetched)
        self._record_locked(work, media_batch.reused_outcome(fetched.without_body(), recent[0]))
        return True

    def _share_locked(self, key: tuple[str, AnalysisOptions], outcome: MediaOutcome, batch: _Batch) -> None:
        """Give an analysis's outcome to the media that waited for the same content, and keep it for later ones."""
        waiting = self._pending.pop(key, [])
        if outcome.outcome == "analysed" and key[0]:
            self._recent[key] = (media_batch.values_of(outcome), batch)
            self._recent.move_to_end(key)
            batch.analysed_contents.append(key)
            while len(self._recent) > RECENT_ANALYSES:
                self._recent.popitem(last=False)
        for work, fetched in waiting:
            if outcome.outcome == "analysed":
                shared = media_batch.reused_outcome(fetched, media_batch.values_of(outcome))
            else:
                # The same bytes fail the same way.
                shared = replace(outcome, media_id=fetched.media_id, url=fetched.url)
            self._record_locked(work, shared)

    def _finish_reused(self, work: _Work, fetched: Fetched, outcome: MediaOutcome) -> None:
        with self._cond:
            self._release_body_locked(fetched)
            self._record_locked(work, outcome)
            self._gauges()
            self._wake_dispatcher(WAKE_BODIES)

    def _release_body_locked(self, fetched: Fetched, analysed: bool = False) -> None:
        """The body is done with (analysed, copied or shared): count it off, and remove its file if it has one."""
        self._bytes -= fetched.in_memory
        self._analysing -= 1
        self._analysing_bytes -= fetched.in_memory
        fetched.discard()
        if not analysed:
            # Settled without an analysis: the analyses take in such bodies at no cost.
            self._analysis_seconds -= self._analysis_seconds * MEAN_WEIGHT

    # --- Completing ---

    def _record_locked(self, work: _Work, outcome: MediaOutcome) -> None:
        batch = work.batch
        seconds = work.seconds
        batch.outcomes.extend(
            replace(outcome, media_id=media_id, response_seconds=seconds) for media_id in work.media_ids
        )
        batch.remaining -= 1
        if batch.remaining == 0:
            if self._trace:
                self._trace.event("ready", chunk=batch.chunk_id)
            self._completions.put(batch)

    def _completion_loop(self) -> None:
        while True:
            batch = self._completions.get()
            began = time.monotonic()
            try:
                # As the lookup thread: one session while chunks keep completing, closed when idle or after an error.
                batch.on_outcomes(batch.outcomes)
            except Exception:
                # The chunk stays pending: its claim expires and it is recovered.
                logger.exception("completing chunk %s failed", batch.chunk_id)
                connection.close()
            finally:
                with self._cond:
                    self._batches.discard(batch)
                    for key in batch.analysed_contents:
                        recent = self._recent.get(key)
                        if recent is not None and recent[1] is batch:
                            del self._recent[key]
                    if batch.chunk_id is not None and self._chunks.get(batch.chunk_id) is batch:
                        del self._chunks[batch.chunk_id]
                    idle = not self._batches
                    if idle:
                        self._idle.notify_all()
                if idle:
                    # An idle process holds no database session (PostgreSQL counts them, and waits for
                    # them before dropping a database).
                    connection.close()
                if self._trace:
                    self._trace.event("written", chunk=batch.chunk_id, seconds=round(time.monotonic() - began, 6))
                    self._trace.flush()
                del batch  # its outcomes and rows are garbage before the trim
                self._trim_if_due()

    def _trim_if_due(self) -> None:
        now = time.monotonic()
        if self._trimmed_at is None or now - self._trimmed_at >= TRIM_INTERVAL:
            self._trimmed_at = now
            worker.release_freed_memory()

    # --- Claims and cancellations ---

    def _heartbeat_loop(self) -> None:
        last_renewal = time.monotonic()
        connected = False
        while True:
            lease = settings.MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS
            # Three renewals per lease: two can be missed before the claim expires.
            interval = max(lease / 3, 0.05)
            self._stop.wait(min(STATUS_REFRESH, interval))
            with self._cond:
                claims = [(b.chunk_id, b.claimed_by) for b in self._chunks.values() if b.claimed_by]
                claims += list(self._reserved.items())
                job_ids = {b.job_id for b in self._batches if b.job_id is not None}
            if not claims and not job_ids:
                if connected:
                    connection.close()  # idle: no session left open
                    connected = False
                continue
            connected = True
            try:
                if job_ids:
                    self._refresh_cancelled(job_ids)
                if claims and time.monotonic() - last_renewal >= interval:
                    renew_claims(claims)
                    last_renewal = time.monotonic()
            except DatabaseError:
                # A busy database: the next beat tries again, well within the lease.
                logger.warning("could not renew the claims of the chunks in flight", exc_info=True)
                connection.close()

    def _refresh_cancelled(self, job_ids: set[int]) -> None:
        from media_analysis.models import AnalysisJob, JobStatus

        stopped = set(
            AnalysisJob.objects.filter(pk__in=job_ids).exclude(status=JobStatus.RUNNING).values_list("pk", flat=True)
        )
        with self._cond:
            if stopped - self._cancelled:
                self._cancel_pending = True
                self._wake_dispatcher(WAKE_WORK)
            self._cancelled = stopped

    # --- Housekeeping ---

    def _start_thread(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _gauges(self) -> None:
        metrics.PIPELINE_IN_FLIGHT.set(self._in_flight)
        metrics.PIPELINE_BYTES.set(self._bytes)
        if self._spool is not None:
            metrics.PIPELINE_SPOOLED_BYTES.set(self._spool.in_use)
        metrics.PIPELINE_QUEUED.set(self._backlog)
        metrics.PIPELINE_ANALYSIS_QUEUE.set(self._analysing)


def renew_claims(claims: Sequence[tuple[int | None, str | None]]) -> int:
    """Move ``claimed_at`` of these chunks forward, where the claim is still ours; one UPDATE per claimer."""
    from media_analysis.models import ChunkStatus, JobChunk

    by_claimer: dict[str, list[int]] = {}
    for chunk_id, claimed_by in claims:
        if chunk_id is not None and claimed_by:
            by_claimer.setdefault(claimed_by, []).append(chunk_id)
    renewed = 0
    now = timezone.now()
    for claimed_by, chunk_ids in by_claimer.items():
        renewed += JobChunk.objects.filter(pk__in=chunk_ids, claimed_by=claimed_by, status=ChunkStatus.PENDING).update(
            claimed_at=now
        )
    return renewed


_lock = threading.Lock()
_instance: tuple[int, Pipeline] | None = None


def pipeline() -> Pipeline:
    """This process's pipeline, created on first use (and again in a forked child, whose threads are gone)."""
    global _instance
    with _lock:
        if _instance is None or _instance[0] != os.getpid():
            _instance = (os.getpid(), Pipeline())
        return _instance[1]


def current_pipeline() -> Pipeline | None:
    """The pipeline of this process if one was started, without starting one."""
    with _lock:
        return _instance[1] if _instance is not None and _instance[0] == os.getpid() else None


def _forget_after_fork() -> None:
    global _instance, _lock
    _lock = threading.Lock()
    _instance = None


os.register_at_fork(after_in_child=_forget_after_fork)
