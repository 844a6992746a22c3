import os
import socket
import subprocess
from datetime import timedelta

from django.utils import timezone

from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.models import JobChunk
from tests.factories import make_expression, make_land, make_media


def _running_job(chunks: int):
    land = make_land()
    page = make_expression(land)
    for _ in range(chunks):
        make_media(page)
    job = jobs.create_job(land, JobParameters())
    ids = jobs.plan_job(job.pk, chunk_size=1)
    return job, ids


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_claims_of_dead_local_processes_and_expired_leases_are_recovered(db):
    _, (dead, alive, expired, remote) = _running_job(4)
    host = socket.gethostname()
    JobChunk.objects.filter(pk=dead).update(claimed_by=f"{host}:{_dead_pid()}", claimed_at=timezone.now())
    JobChunk.objects.filter(pk=alive).update(claimed_by=f"{host}:{os.getpid()}", claimed_at=timezone.now())
    old = timezone.now() - timedelta(hours=1)
    JobChunk.objects.filter(pk=expired).update(claimed_by="elsewhere:1", claimed_at=old)
    JobChunk.objects.filter(pk=remote).update(claimed_by="elsewhere:2", claimed_at=timezone.now())
    assert sorted(jobs.chunks_to_recover(120, 900, queued_chunk_ids=set())) == sorted([dead, expired])


def test_unclaimed_chunks_missing_from_the_queue_wait_for_the_planner(db):
    job, ids = _running_job(3)
    queued = {ids[0]}
    # The planner has not finished enqueuing: a missing chunk may simply not be queued yet.
    assert jobs.chunks_to_recover(120, 900, queued_chunk_ids=queued) == []
    jobs.mark_chunks_enqueued(job.pk)
    assert sorted(jobs.chunks_to_recover(120, 900, queued_chunk_ids=queued)) == sorted(ids[1:])


def test_without_the_queue_content_the_stall_delay_decides(db):
    job, ids = _running_job(2)
    assert jobs.chunks_to_recover(120, 900, queued_chunk_ids=None) == []
    type(job).objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert sorted(jobs.chunks_to_recover(120, 900, queued_chunk_ids=None)) == sorted(ids)


def test_lost_plans_are_found(db):
    land = make_land()
    job = jobs.create_job(land, JobParameters())
    assert jobs.jobs_to_replan(120, queued_job_ids=set()) == []  # within the grace
    type(job).objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(seconds=30))
    assert jobs.jobs_to_replan(120, queued_job_ids={job.pk}) == []
    assert jobs.jobs_to_replan(120, queued_job_ids=set()) == [job.pk]
