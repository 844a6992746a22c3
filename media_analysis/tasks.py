"""Huey tasks: thin adapters over media_analysis.jobs.service and media_analysis.clusters.

This is the only module that enqueues work. The services return what should
happen next (a job to plan, a land to cluster) and the functions here enqueue
it once the transaction that made it necessary has committed.

Tasks take ids, re-fetch their rows, tolerate rows that disappeared, and are
idempotent, so a duplicate delivery or a re-enqueue after a crash is harmless.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task, lock_task
from huey.exceptions import TaskLockedException

from lands.aggregates import refresh_land_aggregates
from lands.models import Land
from media_analysis import clusters
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.jobs.worker import tune_process
from media_analysis.models import AnalysisJob, JobStatus

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

logger = logging.getLogger("medianalyse.tasks")


def start_job(
    land: Land,
    params: JobParameters,
    requested_by: AbstractBaseUser | AnonymousUser | None = None,
    media_ids: list[int] | None = None,
) -> AnalysisJob:
    """Create a job (see jobs.service.create_job) and enqueue its planning once the row is committed.

    The one way every entry point (API, admin, command line, demo) starts a job.
    Raises JobAlreadyRunning when the land already has an active job.
    """
    job = jobs.create_job(land, params, requested_by=requested_by, media_ids=media_ids)
    job_id = job.pk
    transaction.on_commit(lambda: plan_job_task(job_id))
    return job


def cancel_job(job: AnalysisJob) -> AnalysisJob:
    """Cancel a job (jobs.service.cancel_job) from a request: the land's recount, seconds on a large land,
    is enqueued once the cancel has committed instead of run while the request waits."""
    was_active = job.is_active
    job = jobs.cancel_job(job, refresh_aggregates=False)
    if was_active and job.status == JobStatus.CANCELLED:
        land_id = job.land_id
        transaction.on_commit(lambda: refresh_land_aggregates_task(land_id))
    return job


def follow_up(outcome: jobs.StepOutcome) -> None:
    """Enqueue what a finished job step calls for, once its transaction has committed."""
    land_id = outcome.land_to_cluster
    if land_id is not None:
        transaction.on_commit(lambda: cluster_land_task(land_id))


@db_task()
def plan_job_task(job_id: int) -> None:
    """Select the job's media, split them into chunks and fan the chunks out."""
    try:
        chunk_ids = jobs.plan_job(job_id, settings.MEDIA_ANALYSIS_CHUNK_SIZE)
    except Exception as exc:
        logger.exception("planning job %s failed", job_id)
        jobs.fail_job(job_id, f"planning failed: {type(exc).__name__}: {exc}")
        raise
    for chunk_id in chunk_ids:
        run_chunk_task(chunk_id)
    jobs.mark_chunks_enqueued(job_id)


@db_task()
def run_chunk_task(chunk_id: int) -> None:
    """Hand the chunk to this process's download pipeline; its completion enqueues what follows.

    Returns once the pipeline accepted the chunk (after waiting for room), so a
    worker keeps taking chunks while downloads are slow. Run inline, it waits
    for the chunk to complete.
    """
    if HUEY.immediate:
        outcome = jobs.run_chunk(chunk_id)
        if outcome is not None:
            follow_up(outcome)
    else:
        jobs.run_chunk(chunk_id, on_done=follow_up, wait=False)


@db_task()
def cluster_land_task(land_id: int, media_ids: list[int] | None = None) -> None:
    """Cluster the given media of the land, or (None) those analysed since its last clustering run."""
    try:
        clusters.cluster_land(land_id, media_ids)
    except Land.DoesNotExist:
        # The land was deleted after the job ended: nothing left to cluster.
        logger.info("land %s no longer exists; clustering skipped", land_id)


@db_task()
def refresh_land_aggregates_task(land_id: int) -> None:
    """Recount a land and its charts; a land deleted meanwhile is no error."""
    if Land.objects.filter(pk=land_id).exists():
        refresh_land_aggregates(land_id)


def _queued_ids(task_name: str) -> set[int] | None:
    """First arguments of the queued tasks of that name, or None when the queue cannot be listed."""
    try:
        return {int(task.args[0]) for task in HUEY.pending() if task.name.endswith(task_name) and task.args}
    except Exception:
        logger.warning("could not list the queue; falling back to the stall delay", exc_info=True)
        return None


def recover_lost_work() -> tuple[int, int]:
    """Re-enqueue chunks and plans that a dead consumer left behind. Returns (jobs, chunks)."""
    try:
        with lock_task("medianalyse-recover"):
            job_ids = jobs.jobs_to_replan(settings.MEDIA_ANALYSIS_STALL_SECONDS, _queued_ids("plan_job_task"))
            chunk_ids = jobs.chunks_to_recover(
                settings.MEDIA_ANALYSIS_STALL_SECONDS,
                settings.MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS,
                _queued_ids("run_chunk_task"),
            )
    except TaskLockedException:
        return (0, 0)
    for job_id in job_ids:
        plan_job_task(job_id)
    for chunk_id in chunk_ids:
        run_chunk_task(chunk_id)
    if job_ids or chunk_ids:
        logger.warning(
            "recovered %d job plan(s) and %d chunk(s) left by a stopped consumer", len(job_ids), len(chunk_ids)
        )
    return (len(job_ids), len(chunk_ids))


@HUEY.on_startup()
def _prepare_worker() -> None:
    # Tune the process before it runs its first analysis (a recovered one included).
    tune_process()
    # A consumer restarting after a crash finishes what its predecessor was doing.
    from django.db import close_old_connections

    close_old_connections()
    if settings.MEDIA_ANALYSIS_METRICS_PORT:
        from media_analysis.jobs.metrics import start_worker_metrics_server

        start_worker_metrics_server(settings.MEDIA_ANALYSIS_METRICS_PORT)
    try:
        recover_lost_work()
    finally:
        close_old_connections()


@HUEY.on_shutdown()
def _finish_chunks_in_flight() -> None:
    # Let the chunks this process accepted finish for a while; what is left is
    # recovered as after a crash (the claims stop being renewed).
    from media_analysis.jobs.pipeline import current_pipeline

    pipe = current_pipeline()
    if pipe is not None and not pipe.drain(settings.MEDIA_ANALYSIS_SHUTDOWN_GRACE):
        logger.warning("stopping with chunks in flight: %s", pipe.stats())


@db_periodic_task(crontab(minute="*"))
def recover_lost_work_task() -> None:
    recover_lost_work()
