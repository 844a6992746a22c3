"""The life cycle of an analysis job: create, plan into chunks, run chunks, finish, recover.

Parameters are validated in media_analysis.jobs.parameters and media chosen in
media_analysis.jobs.selection. Nothing here enqueues work: each step returns
what should happen next, and media_analysis.tasks enqueues it.
"""

from __future__ import annotations

import heapq
import logging
import os
import socket
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, Value, When
from django.utils import timezone

from lands.aggregates import refresh_land_aggregates
from lands.models import Land, MediaType
from media_analysis.engine.errors import DownloadTimeout
from media_analysis.engine.fetch.hosts import host_key
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.errors import JobAlreadyRunning
from media_analysis.jobs import metrics
from media_analysis.jobs.parameters import JobParameters
from media_analysis.jobs.progress import publish_job_progress
from media_analysis.jobs.selection import job_media
from media_analysis.models import (
    ACTIVE_JOB_STATUSES,
    RECENT_FAILURES_KEPT,
    AnalysisJob,
    ChunkStatus,
    JobChunk,
    JobStatus,
    MediaText,
)

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    from media_analysis.jobs.batch import BatchResult

logger = logging.getLogger("medianalyse.jobs")

PLAN_GRACE_SECONDS = 5.0


def active_job(land_id: int) -> AnalysisJob | None:
    return AnalysisJob.objects.filter(land_id=land_id, status__in=ACTIVE_JOB_STATUSES).first()


def create_job(
    land: Land,
    params: JobParameters,
    requested_by: AbstractBaseUser | AnonymousUser | None = None,
    media_ids: list[int] | None = None,
) -> AnalysisJob:
    """Create the job row, pending; planning it is the caller's next step (``tasks.start_job`` enqueues it).

    Raises JobAlreadyRunning when the land already has a pending or running job
    (a partial unique constraint makes this safe against concurrent requests).
    """
    existing = active_job(land.pk)
    if existing is not None:
        raise JobAlreadyRunning(existing)
    try:
        with transaction.atomic():
            job = AnalysisJob.objects.create(
                land=land,
                # An anonymous user (no pk) leaves the job without a requester.
                requested_by_id=requested_by.pk if requested_by is not None else None,
                depth=params.depth,
                minrel=params.minrel,
                media_types=list(params.media_types),
                force=params.force,
                retry_failed=params.retry_failed,
                ocr=params.ocr,
                media_ids=media_ids,
            )
    except IntegrityError:
        existing = active_job(land.pk)
        if existing is None:
            raise
        raise JobAlreadyRunning(existing) from None
    metrics.JOBS.labels(status="created").inc()
    return job


def plan_job(job_id: int, chunk_size: int) -> list[int]:
    """Select the job's media and split them into chunks; returns the ids of chunks to run.

    Idempotent: a job already planned returns its pending chunks (so a consumer
    killed after planning re-enqueues the rest instead of planning twice).
    """
    with transaction.atomic():
        job = AnalysisJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in ACTIVE_JOB_STATUSES:
            return []
        if job.status == JobStatus.RUNNING and job.chunks_total:
            return list(job.chunks.filter(status=ChunkStatus.PENDING).values_list("pk", flat=True))
        rows = (
            job_media(job)
            .annotate(rank=_deal_rank(job))
            .order_by("url", "pk")
            .values_list("pk", "url", "rank", "response_seconds")
            .iterator(chunk_size=2000)
        )
        total = 0
        chunks_total = 0
        pending: list[JobChunk] = []
        for media_ids in interleaved_chunks(rows, chunk_size):
            pending.append(JobChunk(job=job, index=chunks_total, media_ids=media_ids))
            total += len(media_ids)
            chunks_total += 1
            if len(pending) >= 500:
                JobChunk.objects.bulk_create(pending)
                pending = []
        JobChunk.objects.bulk_create(pending)
        job.total = total
        job.chunks_total = chunks_total
        job.status = JobStatus.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["total", "chunks_total", "status", "started_at", "updated_at"])
        transaction.on_commit(lambda: publish_job_progress(job))
        if not chunks_total:
            _finish(job, JobStatus.COMPLETED)
            return []
        chunk_ids = list(job.chunks.values_list("pk", flat=True))
    if total >= TRIM_AFTER_PLAN:
        # The plan's arrays and batches of rows, freed now, would stay resident for the whole job: the consumer's
        # allocator keeps freed memory (``worker.keep_freed_memory``), and the pipeline's threads allocate from
        # other arenas than the one the plan used.
        from media_analysis.jobs.worker import release_freed_memory  # the imaging stack, only in a consumer

        release_freed_memory()
    return chunk_ids


# Media of a plan past which the heap it freed is handed back to the kernel (``plan_job``): below it, the few
# megabytes are not worth a trim's walk through the arenas.
TRIM_AFTER_PLAN = 20_000


# The order in which the plan deals a job's URLs (``interleaved_chunks``): lower first.
DEAL_SLOW = 0  # the latest attempt ran out of time
DEAL_BODY = 1  # a full download (and an analysis) is expected: no validators to send, or OCR still to do
DEAL_CONDITIONAL = 2  # a conditional request, most likely answered 304: no body, no analysis
# What the plan expects a URL to take whose response time is not known (never requested, or not since the
# times are kept): about a slow answer, so that such URLs are neither all first nor all last.
UNKNOWN_RESPONSE_SECONDS = 1.0


def _deal_rank(job: AnalysisJob) -> Case:
    """The rank (``DEAL_*``) of each media of ``job``, computed by the database as ``batch.stored_validators``
    decides: values of the current analysis and a validator to send make a conditional request."""
    conditional = Q(analysis_version=ANALYSIS_VERSION) & (Q(http_etag__gt="") | Q(http_last_modified__gt=""))
    if job.ocr:
        # A picture whose text was never read (or read by an older OCR step) is fetched in full to read it.
        conditional &= Q(Exists(MediaText.objects.current().filter(media_id=OuterRef("pk")))) | ~Q(type=MediaType.IMAGE)
    ranks = [When(error_class=DownloadTimeout.error_class, then=Value(DEAL_SLOW))]
    if settings.MEDIA_ANALYSIS_CONDITIONAL_REQUESTS:
        ranks.append(When(conditional, then=Value(DEAL_CONDITIONAL)))
    return Case(*ranks, default=Value(DEAL_BODY), output_field=IntegerField())


def interleaved_chunks(rows: Iterable[tuple[int, str, int, float | None]], chunk_size: int) -> Iterator[list[int]]:
    """Split media ids into chunks: all media of a URL in one chunk, costly URLs first, slow hosts started first.

    ``rows`` are ``(pk, url, rank, response_seconds)`` ordered by URL, so that the
    media sharing a URL are neighbours (and the pipeline, which groups a chunk's
    media by URL, downloads each URL once per job). A URL's group larger than
    ``chunk_size`` makes one chunk of its own, larger than the others.

    Groups are dealt by rank (``DEAL_*``, a group taking its media's lowest). A URL
    whose latest attempt ran out of time comes first: if it stalls again it waits
    for its deadline while the rest of the job runs, instead of holding the job's
    end. Then the URLs that need a full download and an analysis are mixed into the
    conditional requests at twice their share, so that all are dealt by the job's
    middle: in a re-analysis the few analyses are the work that needs the cores, and
    the many conditional requests only wait on the sites, so the analyses run beside
    them rather than after them, and several consumers each get some of them.

    Within a rank, the per-host limit makes each host a queue of its own, and the
    job cannot end before its busiest host has answered everything. So each host's
    URLs are dealt slowest first (by the response time their latest request took,
    ``UNKNOWN_RESPONSE_SECONDS`` when none is known: the longest-first order that
    packs a host's slots best), and the hosts are interleaved by the expected
    seconds they have to serve: the next group is always the host's that has had
    the smallest share of its own seconds dealt, so a host with more to do gets
    more of each chunk and its slots are kept busy from the job's first chunk.
    With every time unknown and hosts of equal size, this is taking the hosts in
    turn.

    Only numbers are kept per media and group (in arrays: a million media cost a
    few megabytes), and one string per distinct host.
    """
    chunk_size = max(1, chunk_size)
    pks = array("q")
    starts = array("q")  # where each URL's group begins in pks
    group_host = array("q")
    group_rank = array("b")
    group_seconds = array("d")
    hosts: dict[str, int] = {}
    previous: str | None = None
    for pk, url, rank, seconds in rows:
        expected = UNKNOWN_RESPONSE_SECONDS if seconds is None else seconds
        if url != previous:
            starts.append(len(pks))
            group_host.append(hosts.setdefault(host_key(url), len(hosts)))
            group_rank.append(rank)
            group_seconds.append(expected)
            previous = url
        else:
            group_rank[-1] = min(group_rank[-1], rank)
            group_seconds[-1] = max(group_seconds[-1], expected)
        pks.append(pk)
    starts.append(len(pks))
    host_count = len(hosts)
    hosts.clear()
    current: list[int] = []

    def dealt(rank: int) -> Iterator[int]:
        ranked = array("q", (group for group, value in enumerate(group_rank) if value == rank))
        return _dealt_by_host(ranked, group_host, group_seconds, host_count)

    counts = {rank: group_rank.count(rank) for rank in (DEAL_SLOW, DEAL_BODY, DEAL_CONDITIONAL)}
    downloads = _spread_early(dealt(DEAL_BODY), counts[DEAL_BODY], dealt(DEAL_CONDITIONAL), counts[DEAL_CONDITIONAL])
    for group in chain(dealt(DEAL_SLOW), downloads):
        begin, end = starts[group], starts[group + 1]
        if current and len(current) + (end - begin) > chunk_size:
            yield current
            current = []
        current.extend(pks[begin:end])
        if len(current) >= chunk_size:
            yield current
            current = []
    if current:
        yield current


def _spread_early(early: Iterator[int], early_count: int, rest: Iterator[int], rest_count: int) -> Iterator[int]:
    """``early`` mixed into ``rest`` at twice its share of each stretch, so that all of it is dealt by the middle.

    Not all first: the first chunks would then hold every download and its analysis, and with several consumers
    one of them would take those chunks and do every analysis while the others only wait on the sites.
    """
    whole = early_count + rest_count
    dealt_early = dealt = 0
    early_next = next(early, None)
    rest_next = next(rest, None)
    while early_next is not None or rest_next is not None:
        if early_next is not None and (rest_next is None or dealt_early * whole < 2 * early_count * (dealt + 1)):
            yield early_next
            dealt_early += 1
            early_next = next(early, None)
        elif rest_next is not None:
            yield rest_next
            rest_next = next(rest, None)
        dealt += 1


def _dealt_by_host(groups: array, group_host: array, group_seconds: array, host_count: int) -> Iterator[int]:
    """``groups`` in dealing order: each host's slowest first, the next from the host with the smallest share of
    its expected seconds dealt so far (ties: the host with more seconds in all, then the first host)."""
    # A counting sort by host, stable: each host's groups stay in URL order, then are sorted slowest first.
    first = array("q", [0]) * (host_count + 1)
    for group in groups:
        first[group_host[group] + 1] += 1
    for host in range(host_count):
        first[host + 1] += first[host]
    cursor = array("q", first[:host_count])
    by_host = array("q", [0]) * len(groups)
    for group in groups:
        host = group_host[group]
        by_host[cursor[host]] = group
        cursor[host] += 1
    totals = array("d", [0.0]) * host_count
    turn: list[tuple[float, float, int]] = []
    for host in range(host_count):
        begin, end = first[host], first[host + 1]
        if begin == end:
            continue
        seconds = {group_seconds[group] for group in by_host[begin:end]}
        if len(seconds) > 1:
            # Sorted in a list of the host's own, only when its times differ (a first analysis knows none).
            by_host[begin:end] = array("q", sorted(by_host[begin:end], key=lambda group: -group_seconds[group]))
        totals[host] = sum(group_seconds[group] for group in by_host[begin:end])
        turn.append((0.0, -totals[host], host))
    heapq.heapify(turn)
    cursor = array("q", first[:host_count])
    dealt = array("d", [0.0]) * host_count
    while turn:
        _share, weight, host = heapq.heappop(turn)
        group = by_host[cursor[host]]
        yield group
        cursor[host] += 1
        dealt[host] += group_seconds[group]
        if cursor[host] < first[host + 1]:
            heapq.heappush(turn, (dealt[host] / totals[host], weight, host))


def mark_chunks_enqueued(job_id: int) -> None:
    AnalysisJob.objects.filter(pk=job_id, chunks_enqueued_at__isnull=True).update(chunks_enqueued_at=timezone.now())


@dataclass(frozen=True)
class StepOutcome:
    """What a step of a job did, and so what its caller has to enqueue next.

    The service never enqueues work itself: the Huey tasks (and the foreground
    command) read this and schedule the follow-up after the transaction commits.
    """

    processed: bool = False
    job_completed: bool = False
    # Set when the job completed with new analyses: new hashes may join or form
    # near-duplicate clusters, so the land's clusters need an (incremental) update.
    # Media found unchanged (304) kept their hashes, so they alone need none; reused values are new to the land.
    land_to_cluster: int | None = None


def _completed(job: AnalysisJob, processed: bool = False) -> StepOutcome:
    new_values = job.analysed or job.reused
    return StepOutcome(processed=processed, job_completed=True, land_to_cluster=job.land_id if new_values else None)


def run_chunk(
    chunk_id: int, on_done: Callable[[StepOutcome], None] | None = None, wait: bool = True
) -> StepOutcome | None:
    """Claim one chunk and hand its media to this process's pipeline; its counts reach the job exactly once.

    With ``wait`` (the foreground command, tasks run inline), block until the
    chunk is complete and return its ``StepOutcome``: ``processed`` is True
    when the chunk was processed now. Without, claim it, wait while the
    pipeline has more downloads queued than it will start soon (the worker
    takes no other chunk meanwhile, so a busy consumer leaves chunks to the
    others; a chunk that is mostly conditional requests waits only for those),
    then return None once the chunk is accepted; ``on_done`` gets its
    outcome from the pipeline's completion thread.

    A chunk already done (a duplicate delivery, or a re-enqueue after a crash)
    or already in this process's pipeline is a no-op returning an empty
    outcome; a chunk of a cancelled or finished job is skipped.
    """
    from media_analysis.jobs import batch as media_batch  # the heavy imagery stack, only when there is work
    from media_analysis.jobs.pipeline import pipeline

    pipe = pipeline()
    # The job's own list of media (a job given explicit ids) is the whole job's: a chunk needs its own ids only.
    chunk = JobChunk.objects.select_related("job").defer("job__media_ids").filter(pk=chunk_id).first()
    if chunk is None or chunk.status == ChunkStatus.DONE or chunk.job.status != JobStatus.RUNNING:
        return StepOutcome()
    identity = worker_identity()
    if not pipe.accepting() or not pipe.reserve_chunk(chunk.pk, identity):
        return StepOutcome()
    try:
        # Claimed before waiting for room: a chunk taken from the queue and not claimed looks lost.
        started = timezone.now()
        if not claim_chunk(chunk, identity, started):
            # A second delivery of a chunk that a live worker holds (the recovery re-enqueues a chunk
            # taken from the queue and not yet claimed): only one of them may download its media.
            pipe.unreserve_chunk(chunk.pk)
            return StepOutcome()
        # Read before waiting for room (the claim keeps them ours): the room a chunk waits for is that of the
        # kind of request most of its media need.
        rows, missing = media_batch.load_rows(chunk.media_ids)
        ocr = chunk.job.ocr
        items = media_batch.pipeline_items(rows, ocr)
        # Timed out last time: if they stall again, their wait must start with the job, not behind other downloads.
        urgent = [m.pk for m in rows.values() if m.error_class == DownloadTimeout.error_class]
        if not wait:
            conditional = sum(1 for item in items if item[3])
            pipe.wait_for_room(
                backlog_limit(), revalidation_backlog_limit(), mostly_conditional=2 * conditional > len(items)
            )
            if not pipe.accepting():
                # Stopping: the claim ends with this process, and the chunk is recovered.
                pipe.unreserve_chunk(chunk.pk)
                return StepOutcome()
            chunk.refresh_from_db()
            if chunk.status == ChunkStatus.DONE:
                pipe.unreserve_chunk(chunk.pk)
                return StepOutcome()
    except BaseException:
        pipe.unreserve_chunk(chunk.pk)
        raise

    def complete(outcomes: list[media_batch.MediaOutcome]) -> StepOutcome:
        result = media_batch.record_outcomes(rows, outcomes, media_batch.BatchResult(skipped=missing))
        return complete_chunk(chunk_id, result, started)

    def finished(outcomes: list[media_batch.MediaOutcome]) -> None:
        outcome = complete(outcomes)
        if on_done is not None:
            on_done(outcome)

    try:
        if wait:
            return complete(
                pipe.run(
                    items,
                    job_id=chunk.job_id,
                    chunk_id=chunk.pk,
                    claimed_by=identity,
                    reuse=not chunk.job.force,
                    ocr=ocr,
                )
            )
        pipe.submit(
            items,
            finished,
            job_id=chunk.job_id,
            chunk_id=chunk.pk,
            claimed_by=identity,
            reuse=not chunk.job.force,
            ocr=ocr,
            urgent=urgent,
        )
    finally:
        # Submitted, the chunk is the pipeline's; refused (a stopping process), it is no longer held here.
        pipe.unreserve_chunk(chunk.pk)
    return None


def backlog_limit() -> int:
    """URLs a process may have queued, not started, before it accepts another chunk."""
    return 2 * max(1, settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY)


def revalidation_backlog_limit() -> int:
    """Conditional requests a process may have queued, not started, before it accepts another chunk."""
    return 2 * max(1, settings.MEDIA_ANALYSIS_REVALIDATION_CONCURRENCY)


def complete_chunk(chunk_id: int, batch: BatchResult, started: datetime | None = None) -> StepOutcome:
    """Mark a chunk done and add its counts to its job, exactly once; finish the job with its last chunk.

    The rows are already written. A chunk found done already (another worker
    completed it after a recovery) adds nothing.
    """
    outcome = StepOutcome(processed=True)
    with transaction.atomic():
        locked = JobChunk.objects.select_for_update().filter(pk=chunk_id).first()
        if locked is None or locked.status == ChunkStatus.DONE:
            return StepOutcome()
        locked.status = ChunkStatus.DONE
        locked.analysed, locked.failed, locked.skipped = batch.analysed, batch.failed, batch.skipped
        locked.unchanged, locked.reused = batch.unchanged, batch.reused
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "analysed", "reused", "unchanged", "failed", "skipped", "finished_at"])
        # Without the job's list of media: read twice per chunk, it would cost each chunk the whole job's size.
        job = AnalysisJob.objects.select_for_update().defer("media_ids").get(pk=locked.job_id)
        job.analysed = F("analysed") + batch.analysed
        job.unchanged = F("unchanged") + batch.unchanged
        job.reused = F("reused") + batch.reused
        job.failed = F("failed") + batch.failed
        job.skipped = F("skipped") + batch.skipped
        job.chunks_done = F("chunks_done") + 1
        update = ["analysed", "reused", "unchanged", "failed", "skipped", "chunks_done", "updated_at"]
        if batch.failures:
            job.recent_failures = (batch.failures[-RECENT_FAILURES_KEPT:] + list(job.recent_failures or []))[
                :RECENT_FAILURES_KEPT
            ]
            update.append("recent_failures")
        job.save(update_fields=update)
        job.refresh_from_db()
        if job.status == JobStatus.RUNNING and job.chunks_done >= job.chunks_total:
            _finish(job, JobStatus.COMPLETED)
            outcome = _completed(job, processed=True)
    if started is not None:
        metrics.CHUNK_SECONDS.observe((timezone.now() - started).total_seconds())
    transaction.on_commit(lambda: publish_job_progress(job))
    return outcome


def _finish(job: AnalysisJob, status: str, error: str = "", *, refresh_aggregates: bool = True) -> None:
    job.status = status
    job.finished_at = timezone.now()
    if error:
        job.error = error
    job.save(update_fields=["status", "finished_at", "error", "updated_at"])
    metrics.JOBS.labels(status=status).inc()
    if refresh_aggregates:
        # The land's stored counts and charts follow what the job wrote (after the commit, out of its lock).
        land_id = job.land_id
        # robust: a failed recount is logged, never turned into a failure of the step that finished the job.
        transaction.on_commit(lambda: refresh_land_aggregates(land_id), robust=True)
    transaction.on_commit(lambda: publish_job_progress(job, final=True))


def finalise_job(job_id: int) -> StepOutcome:
    """Mark a running job completed when all its chunks are done (safe to call any time)."""
    with transaction.atomic():
        job = AnalysisJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != JobStatus.RUNNING:
            return StepOutcome()
        if job.chunks.filter(status=ChunkStatus.PENDING).exists():
            return StepOutcome()
        _finish(job, JobStatus.COMPLETED)
        return _completed(job)


def cancel_job(job: AnalysisJob, *, refresh_aggregates: bool = True) -> AnalysisJob:
    """Cancel an active job: remaining chunks are skipped as soon as a worker picks them up.

    Without ``refresh_aggregates`` the land's stored counts are left to the caller: recounting a large
    land takes seconds, which a web request hands to a worker (``tasks.cancel_job``).
    """
    with transaction.atomic():
        locked = AnalysisJob.objects.select_for_update().get(pk=job.pk)
        if locked.status in ACTIVE_JOB_STATUSES:
            _finish(locked, JobStatus.CANCELLED, refresh_aggregates=refresh_aggregates)
    job.refresh_from_db()
    return job


def fail_job(job_id: int, error: str) -> None:
    with transaction.atomic():
        job = AnalysisJob.objects.select_for_update().filter(pk=job_id).first()
        if job is not None and job.status in ACTIVE_JOB_STATUSES:
            _finish(job, JobStatus.FAILED, error=error[:5000])


def claim_chunk(chunk: JobChunk, identity: str, now: datetime) -> bool:
    """Take a pending chunk for ``identity`` unless another live worker holds it.

    The claim is a compare-and-set on the claim the chunk had when it was read,
    so that of two workers given the same chunk at once only one wins. A claim is
    free when empty, already ``identity``'s, held by a dead process of this host,
    or older than the lease (the same rules as ``chunks_to_recover``).
    """
    held, held_at = chunk.claimed_by, chunk.claimed_at
    if held and held != identity and not _claim_is_dead(held):
        lease = timedelta(seconds=settings.MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS)
        if held_at is not None and now - held_at <= lease:
            return False
    won = JobChunk.objects.filter(pk=chunk.pk, status=ChunkStatus.PENDING, claimed_by=held, claimed_at=held_at).update(
        claimed_by=identity, claimed_at=now
    )
    if won:
        chunk.claimed_by, chunk.claimed_at = identity, now
    return won == 1


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim_is_dead(claimed_by: str) -> bool:
    """True when the claim belongs to a process of this host that no longer exists."""
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def chunks_to_recover(
    stall_seconds: float, lease_seconds: float, queued_chunk_ids: set[int] | None = None
) -> list[int]:
    """Pending chunks of running jobs that no live worker will finish.

    A chunk is recovered when its claimer was a process of this host that has
    died (a consumer killed mid-chunk), when its claim is older than the lease
    (a worker on another machine died: a live one renews its claim, see
    ``pipeline.renew_claims``), or when it was never claimed and is no
    longer in the queue (its task was taken by a worker that died before
    claiming it). When the queue's content is unknown, a never-claimed chunk is
    recovered once its job has not moved for ``stall_seconds``.
    """
    now = timezone.now()
    recover: list[int] = []
    rows = JobChunk.objects.filter(status=ChunkStatus.PENDING, job__status=JobStatus.RUNNING).values_list(
        "pk", "claimed_by", "claimed_at", "job__updated_at", "job__started_at", "job__chunks_enqueued_at"
    )
    for pk, claimed_by, claimed_at, job_updated_at, job_started_at, enqueued_at in rows.iterator(chunk_size=1000):
        if claimed_by:
            if _claim_is_dead(claimed_by) or (claimed_at and now - claimed_at > timedelta(seconds=lease_seconds)):
                recover.append(pk)
        elif queued_chunk_ids is not None:
            # Until the planner has enqueued every chunk, a missing one may just
            # not be queued yet; a planner that died never gets there, hence the grace.
            planner_done = enqueued_at is not None or (
                job_started_at is not None and now - job_started_at > timedelta(seconds=PLAN_GRACE_SECONDS)
            )
            if pk not in queued_chunk_ids and planner_done:
                recover.append(pk)
        elif now - job_updated_at > timedelta(seconds=stall_seconds):
            recover.append(pk)
    return recover


def jobs_to_replan(stall_seconds: float, queued_job_ids: set[int] | None = None) -> list[int]:
    """Pending jobs whose planning task was lost (taken by a consumer that died).

    With the queue's content known, a pending job not in it is replanned after
    a short grace (its task is enqueued just after the row is committed);
    otherwise after ``stall_seconds``.
    """
    grace = PLAN_GRACE_SECONDS if queued_job_ids is not None else stall_seconds
    cutoff = timezone.now() - timedelta(seconds=grace)
    candidates = AnalysisJob.objects.filter(status=JobStatus.PENDING, updated_at__lt=cutoff).values_list(
        "pk", flat=True
    )
    return [pk for pk in candidates if queued_job_ids is None or pk not in queued_job_ids]
