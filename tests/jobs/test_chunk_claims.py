"""One worker per chunk: a chunk delivered twice is downloaded once."""

import io
import os
import socket
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from media_analysis.jobs import batch
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.models import ChunkStatus, JobChunk
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def _chunk(http_server=None) -> int:
    land = make_land()
    url = http_server.route("/one.png", Reply(body=_png(), content_type="image/png")) if http_server else None
    make_media(make_expression(land), **({"url": url} if url else {}))
    job = jobs.create_job(land, JobParameters())
    (chunk_id,) = jobs.plan_job(job.pk, chunk_size=10)
    return chunk_id


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_of_two_workers_that_read_the_same_free_chunk_only_one_claims_it(db):
    chunk_id = _chunk()
    first_copy = JobChunk.objects.get(pk=chunk_id)
    second_copy = JobChunk.objects.get(pk=chunk_id)
    now = timezone.now()
    assert jobs.claim_chunk(first_copy, "host-a:1", now)
    # The second read the chunk before the first claimed it: its compare-and-set finds another claim.
    assert not jobs.claim_chunk(second_copy, "host-b:2", now)
    stored = JobChunk.objects.get(pk=chunk_id)
    assert (stored.claimed_by, stored.claimed_at) == ("host-a:1", now)
    assert (first_copy.claimed_by, second_copy.claimed_by) == ("host-a:1", "")


def test_a_live_claim_is_kept_and_a_lost_one_is_taken_over(db, settings):
    settings.MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS = 900
    host = socket.gethostname()
    now = timezone.now()
    cases = {
        "another host, renewed recently": ("elsewhere:7", now - timedelta(seconds=60), False),
        "another host, lease expired": ("elsewhere:7", now - timedelta(seconds=901), True),
        "a live process of this host": (f"{host}:{os.getppid()}", now, False),
        "a dead process of this host": (f"{host}:{_dead_pid()}", now, True),
        "this very worker": (f"{host}:{os.getpid()}", now - timedelta(seconds=5), True),
    }
    for what, (held_by, held_at, free) in cases.items():
        chunk_id = _chunk()
        JobChunk.objects.filter(pk=chunk_id).update(claimed_by=held_by, claimed_at=held_at)
        chunk = JobChunk.objects.get(pk=chunk_id)
        assert jobs.claim_chunk(chunk, f"{host}:{os.getpid()}", now) is free, what
        expected = f"{host}:{os.getpid()}" if free else held_by
        assert JobChunk.objects.get(pk=chunk_id).claimed_by == expected, what


def test_a_chunk_held_by_a_live_worker_is_not_downloaded_again(db, http_server):
    chunk_id = _chunk(http_server)
    JobChunk.objects.filter(pk=chunk_id).update(claimed_by="elsewhere:7", claimed_at=timezone.now())
    outcome = jobs.run_chunk(chunk_id)
    assert outcome is not None
    assert not outcome.processed
    assert http_server.hits("/one.png") == 0
    chunk = JobChunk.objects.get(pk=chunk_id)
    assert (chunk.status, chunk.claimed_by) == (ChunkStatus.PENDING, "elsewhere:7")


@pytest.mark.django_db(transaction=True)
def test_a_chunk_whose_claim_expired_is_run_by_the_next_delivery(http_server, settings):
    settings.MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS = 30
    chunk_id = _chunk(http_server)
    JobChunk.objects.filter(pk=chunk_id).update(
        claimed_by="elsewhere:7", claimed_at=timezone.now() - timedelta(seconds=31)
    )
    outcome = jobs.run_chunk(chunk_id)
    assert outcome is not None
    assert outcome.processed
    assert http_server.hits("/one.png") == 1
    chunk = JobChunk.objects.get(pk=chunk_id)
    assert (chunk.status, chunk.analysed) == (ChunkStatus.DONE, 1)


def test_a_media_found_with_its_own_values_after_a_crash_counts_as_analysed():
    # A consumer killed between writing a chunk's rows and adding its counts leaves rows analysed by the
    # current version; the chunk's second run finds each media's own values by content.
    values = {"pk": 5, "width": 40, "height": 30, "original_key": "originals/ab.png", "thumbnail_key": "t/ab.jpg"}
    fetched = batch.Fetched(media_id=5, url="http://127.0.0.1/a.png", media_type="img", content=b"x", sha256="ab")
    assert batch.reused_outcome(fetched, values).outcome == "analysed"
    other = batch.Fetched(media_id=6, url="http://127.0.0.1/b.png", media_type="img", content=b"x", sha256="ab")
    reused = batch.reused_outcome(other, values)
    assert reused.outcome == "reused"
    assert (reused.fields["width"], reused.fields["height"]) == (40, 30)
