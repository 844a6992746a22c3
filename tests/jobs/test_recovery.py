import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image

from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.models import ChunkStatus, JobChunk
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply
from tests.support.processes import ROOT, child_env, wait_until


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


LEASE = 2.0  # seconds: the claim is renewed about every 0.7 s


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _held_chunk(http_server, release: threading.Event) -> int:
    """A running job of one chunk whose only media is answered once ``release`` is set."""
    url = http_server.route("/held.png", Reply(body=_png(), content_type="image/png", hold=release))
    land = make_land()
    make_media(make_expression(land), url=url)
    job = jobs.create_job(land, JobParameters())
    (chunk_id,) = jobs.plan_job(job.pk, chunk_size=10)
    return chunk_id


def _claimed_at(chunk_id: int):
    return JobChunk.objects.get(pk=chunk_id).claimed_at


def _never_recovered_for(chunk_id: int, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert chunk_id not in jobs.chunks_to_recover(120, LEASE, queued_chunk_ids=set())
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_a_live_worker_renews_its_claim_so_a_slow_chunk_is_not_recovered(http_server, settings):
    settings.MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS = LEASE
    release = threading.Event()
    chunk_id = _held_chunk(http_server, release)

    def work() -> None:
        try:
            jobs.run_chunk(chunk_id)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        wait_until(lambda: http_server.hits("/held.png") == 1, timeout=10, what="the chunk's download")
        first = _claimed_at(chunk_id)
        _never_recovered_for(chunk_id, 2.5 * LEASE)
        assert _claimed_at(chunk_id) > first
    finally:
        release.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    chunk = JobChunk.objects.get(pk=chunk_id)
    assert (chunk.status, chunk.analysed) == (ChunkStatus.DONE, 1)
    # The renewing thread ends with its chunk.
    assert not [t for t in threading.enumerate() if t.name == f"chunk-{chunk_id}-lease"]


@pytest.mark.django_db(transaction=True)
def test_the_claim_of_a_worker_that_is_gone_is_no_longer_renewed_and_is_recovered(http_server, tmp_path):
    release = threading.Event()
    chunk_id = _held_chunk(http_server, release)
    script = f"import django; django.setup(); from media_analysis.jobs.service import run_chunk; run_chunk({chunk_id})"
    env = child_env(
        tmp_path, DJANGO_SETTINGS_MODULE="medianalyse_site.settings", MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS=str(LEASE)
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_until(lambda: http_server.hits("/held.png") == 1, timeout=60, what="the child's download")
        assert JobChunk.objects.get(pk=chunk_id).claimed_by == f"{socket.gethostname()}:{child.pid}"
        first = _claimed_at(chunk_id)
        _never_recovered_for(chunk_id, 1.5 * LEASE)
        assert _claimed_at(chunk_id) > first
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        release.set()
    last = _claimed_at(chunk_id)
    time.sleep(LEASE / 2)
    assert _claimed_at(chunk_id) == last  # nobody renews it any more
    assert jobs.chunks_to_recover(120, LEASE, queued_chunk_ids=set()) == [chunk_id]
