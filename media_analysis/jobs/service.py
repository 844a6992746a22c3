"""The life cycle of an analysis job: create, plan into chunks, run chunks, finish, recover.

Parameters are validated in media_analysis.jobs.parameters and media chosen in
media_analysis.jobs.selection. Nothing here enqueues work: each step returns
what should happen next, and media_analysis.tasks enqueues it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from lands.models import Land
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
)

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

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
        ids = list(job_media(job).order_by("pk").values_list("pk", flat=True))
        chunks = [
            JobChunk(job=job, index=index, media_ids=ids[start : start + chunk_size])
            for index, start in enumerate(range(0, len(ids), chunk_size))
        ]
        JobChunk.objects.bulk_create(chunks, batch_size=500)
        job.total = len(ids)
        job.chunks_total = len(chunks)
        job.status = JobStatus.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["total", "chunks_total", "status", "started_at", "updated_at"])
        transaction.on_commit(lambda: publish_job_progress(job))
        if not chunks:
            _finish(job, JobStatus.COMPLETED)
            return []
        return list(job.chunks.values_list("pk", flat=True))


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
    land_to_cluster: int | None = None


def _completed(job: AnalysisJob, processed: bool = False) -> StepOutcome:
    return StepOutcome(processed=processed, job_completed=True, land_to_cluster=job.land_id if job.analysed else None)


def run_chunk(chunk_id: int) -> StepOutcome:
    """Analyse one chunk and add its counts to the job exactly once.

    ``processed`` is True when the chunk was processed now. A chunk that is
    already done (a duplicate delivery, or a re-enqueue after a crash) is a
    no-op; a chunk of a cancelled or finished job is skipped.
    """
    chunk = JobChunk.objects.select_related("job").filter(pk=chunk_id).first()
    if chunk is None or chunk.status == ChunkStatus.DONE or chunk.job.status != JobStatus.RUNNING:
        return StepOutcome()
    from media_analysis.jobs.batch import analyse_media  # the heavy imagery stack, only when there is work

    started = timezone.now()
    identity = worker_identity()
    JobChunk.objects.filter(pk=chunk.pk).update(claimed_by=identity, claimed_at=started)
    with renewed_claim(chunk.pk, identity, settings.MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS):
        batch = analyse_media(chunk.media_ids)
    outcome = StepOutcome(processed=True)
    with transaction.atomic():
        locked = JobChunk.objects.select_for_update().get(pk=chunk.pk)
        if locked.status == ChunkStatus.DONE:
            return StepOutcome()
        locked.status = ChunkStatus.DONE
        locked.analysed, locked.failed, locked.skipped = batch.analysed, batch.failed, batch.skipped
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "analysed", "failed", "skipped", "finished_at"])
        job = AnalysisJob.objects.select_for_update().get(pk=chunk.job_id)
        job.analysed = F("analysed") + batch.analysed
        job.failed = F("failed") + batch.failed
        job.skipped = F("skipped") + batch.skipped
        job.chunks_done = F("chunks_done") + 1
        update = ["analysed", "failed", "skipped", "chunks_done", "updated_at"]
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
    metrics.CHUNK_SECONDS.observe((timezone.now() - started).total_seconds())
    transaction.on_commit(lambda: publish_job_progress(job))
    return outcome


def _finish(job: AnalysisJob, status: str, error: str = "") -> None:
    job.status = status
    job.finished_at = timezone.now()
    if error:
        job.error = error
    job.save(update_fields=["status", "finished_at", "error", "updated_at"])
    metrics.JOBS.labels(status=status).inc()
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


def cancel_job(job: AnalysisJob) -> AnalysisJob:
    """Cancel an active job: remaining chunks are skipped as soon as a worker picks them up."""
    with transaction.atomic():
        locked = AnalysisJob.objects.select_for_update().get(pk=job.pk)
        if locked.status in ACTIVE_JOB_STATUSES:
            _finish(locked, JobStatus.CANCELLED)
    job.refresh_from_db()
    return job


def fail_job(job_id: int, error: str) -> None:
    with transaction.atomic():
        job = AnalysisJob.objects.select_for_update().filter(pk=job_id).first()
        if job is not None and job.status in ACTIVE_JOB_STATUSES:
            _finish(job, JobStatus.FAILED, error=error[:5000])


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def renewed_claim(chunk_id: int, identity: str, lease_seconds: float) -> Iterator[None]:
    """Keep the claim of ``identity`` on a chunk fresh while the block runs.

    A chunk slower than its lease would otherwise be re-enqueued and analysed
    twice at once. A background thread moves ``claimed_at`` forward every
    third of the lease, so two renewals can be missed before the claim expires;
    a worker that dies stops renewing, and its chunk is recovered once the
    lease has passed.
    """
    stop = threading.Event()
    heartbeat = threading.Thread(
        target=_renew_claim,
        args=(chunk_id, identity, max(lease_seconds / 3, 0.05), stop),
        name=f"chunk-{chunk_id}-lease",
        daemon=True,
    )
    heartbeat.start()
    try:
        yield
    finally:
        stop.set()
        heartbeat.join()


def _renew_claim(chunk_id: int, identity: str, interval: float, stop: threading.Event) -> None:
    try:
        while not stop.wait(interval):
            try:
                renewed = JobChunk.objects.filter(pk=chunk_id, claimed_by=identity, status=ChunkStatus.PENDING).update(
                    claimed_at=timezone.now()
                )
            except DatabaseError:
                # A busy database: the next beat tries again, well within the lease.
                logger.warning("could not renew the claim on chunk %s", chunk_id, exc_info=True)
                continue
            if not renewed:
                return  # finished, or recovered and claimed by another worker: not ours to renew
    finally:
        # This thread's own connection; the worker's stays open.
        connection.close()


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
    ``renewed_claim``), or when it was never claimed and is no
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
