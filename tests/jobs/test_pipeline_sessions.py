"""The pipeline's lookup thread keeps one database session while bodies keep coming, instead of one per query."""

from __future__ import annotations

import io
import threading

import pytest
from django.db.backends.signals import connection_created
from PIL import Image

from media_analysis.jobs import batch as media_batch
from media_analysis.jobs import pipeline as pipeline_module
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.models import JobStatus
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply

pytestmark = pytest.mark.django_db(transaction=True)


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), ((seed * 71) % 256, (seed * 13) % 256, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_lookups_of_successive_chunks_share_one_session(http_server, monkeypatch):
    # Idle closing is not what is tested: a loaded machine must not close the sessions between two chunks.
    monkeypatch.setattr(pipeline_module, "LOOKUP_IDLE_CLOSE", 600.0)
    land = make_land()
    for n in range(6):
        url = http_server.route(f"/session-{n}.png", Reply(body=_png(n), content_type="image/png"))
        make_media(make_expression(land, depth=0, relevance=1), url=url)
    job = jobs.create_job(land, JobParameters())
    chunk_ids = jobs.plan_job(job.pk, chunk_size=2)
    assert len(chunk_ids) == 3

    opened: dict[str, int] = {}
    lookups = [0]
    lock = threading.Lock()

    def count_session(sender, connection, **kwargs) -> None:
        with lock:
            name = threading.current_thread().name
            opened[name] = opened.get(name, 0) + 1

    real_lookup = media_batch.reusable_values

    def counted_lookup(*args, **kwargs):
        lookups[0] += 1
        return real_lookup(*args, **kwargs)

    monkeypatch.setattr(media_batch, "reusable_values", counted_lookup)
    connection_created.connect(count_session)
    try:
        for chunk_id in chunk_ids:
            # One chunk at a time: each one's lookup and completion are queries of their own.
            done = threading.Event()
            assert jobs.run_chunk(chunk_id, on_done=lambda outcome, done=done: done.set(), wait=False) is None
            assert done.wait(60), f"chunk {chunk_id} not completed"
    finally:
        connection_created.disconnect(count_session)
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, 6)
    assert lookups[0] >= 3
    # At most one each: a session left open by an earlier job of this process is used again.
    assert opened.get("pipeline-lookup", 0) <= 1, opened
