"""The decode budget in the pipeline: large images analysed one at a time, small ones together, cancel released.

A real HTTP server on loopback serves real PNGs; chunks run as a consumer runs them (``transaction=True``).
"""

from __future__ import annotations

import io
import threading
import time

import pytest
from PIL import Image

from media_analysis.engine.image.budget import analysis_memory
from media_analysis.jobs import batch as media_batch
from media_analysis.jobs import pipeline as pipeline_module
from media_analysis.jobs import service as jobs
from media_analysis.jobs.pipeline import pipeline
from media_analysis.models import ChunkStatus, JobChunk, JobStatus
from tests.jobs.test_download_pipeline import Completions, _planned_job, _png, _run_async
from tests.support.http_server import Reply
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _large_png(seed: int, side: int = 900) -> bytes:
    """A real photograph-sized PNG (a gradient with a seed's tint), quick to encode."""
    grey = Image.linear_gradient("L").resize((side, side))
    tint = Image.new("L", (side, side), seed * 29 % 256)
    buffer = io.BytesIO()
    Image.merge("RGB", (grey, tint, grey.rotate(90))).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class _Concurrency:
    """Wraps the analysis: how many ran at once, each lingering so that those allowed together overlap."""

    def __init__(self, linger: float, hold: threading.Event | None = None) -> None:
        self.linger = linger
        self.hold = hold
        self.running = 0
        self.most = 0
        self.started = 0
        self.lock = threading.Lock()
        self.real = media_batch.analyse_image

    def __call__(self, content, options, **kwargs):
        with self.lock:
            self.running += 1
            self.started += 1
            self.most = max(self.most, self.running)
        try:
            if self.hold is not None:
                assert self.hold.wait(timeout=60), "an analysis was held too long"
            result = self.real(content, options, **kwargs)
            time.sleep(self.linger)
            return result
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def budget_settings(settings, monkeypatch):
    settings.MEDIA_ANALYSIS_ANALYSIS_THREADS = 4
    settings.MEDIA_ANALYSIS_REUSE_BY_CONTENT = False  # every body analysed, none copied
    settings.MEDIA_ANALYSIS_SPOOL_THRESHOLD = 0
    monkeypatch.setattr(pipeline_module, "_instance", None)
    return settings


def _run_whole(urls: list[str], timeout: float):
    """Plan one job of ``urls`` in a single chunk, run it in the background and wait for it; the job, re-read."""
    job, chunk_ids = _planned_job(urls, chunk_size=len(urls))
    completions = Completions()
    _run_async(chunk_ids, completions)
    completions.wait_for(*chunk_ids, timeout=timeout)
    job.refresh_from_db()
    return job


def _settled_budget() -> None:
    budget = media_batch.decode_budget()
    assert (budget.used, budget.running, budget.waiting) == (0, 0, 0)


def test_large_images_are_analysed_one_at_a_time_and_small_ones_together(budget_settings, http_server, monkeypatch):
    large = [_large_png(n) for n in range(6)]
    cost = max(analysis_memory(body, media_batch.analysis_options(False)) for body in large)
    budget_settings.MEDIA_ANALYSIS_DECODE_BUDGET = cost * 3 // 2  # one large image, not two
    small = [_png(n) for n in range(8)]
    for name, bodies, most in (("large", large, 1), ("small", small, 4)):
        watch = _Concurrency(linger=0.3)
        monkeypatch.setattr(media_batch, "analyse_image", watch)
        urls = [
            http_server.route(f"/{name}-{n}.png", Reply(body=body, content_type="image/png"))
            for n, body in enumerate(bodies)
        ]
        job = _run_whole(urls, timeout=120)
        assert (job.status, job.analysed, job.failed) == (JobStatus.COMPLETED, len(urls), 0)
        if most == 1:
            assert watch.most == 1
            assert media_batch.decode_budget().peak <= budget_settings.MEDIA_ANALYSIS_DECODE_BUDGET
        else:
            assert watch.most > 1  # small images share the budget: the four threads analyse together
        _settled_budget()


def test_a_cancelled_jobs_bodies_waiting_for_the_budget_are_skipped_and_release_it(
    budget_settings, http_server, monkeypatch
):
    bodies = [_large_png(n) for n in range(5)]
    budget_settings.MEDIA_ANALYSIS_DECODE_BUDGET = analysis_memory(bodies[0], media_batch.analysis_options(False))
    held = threading.Event()
    watch = _Concurrency(linger=0.0, hold=held)
    monkeypatch.setattr(media_batch, "analyse_image", watch)
    urls = [
        http_server.route(f"/c-{n}.png", Reply(body=body, content_type="image/png")) for n, body in enumerate(bodies)
    ]
    job, (chunk_id,) = _planned_job(urls, chunk_size=len(urls))
    pipe = pipeline()
    completions = Completions()
    try:
        _run_async([chunk_id], completions)
        budget = media_batch.decode_budget()
        # One analysis holds the whole budget; the other threads' bodies wait for it.
        wait_until(lambda: budget.running == 1 and budget.waiting >= 2, timeout=30, what="analyses waiting")
        jobs.cancel_job(job)
        wait_until(lambda: budget.waiting == 0, timeout=30, what="the waits to be given up")
    finally:
        held.set()
    completions.wait_for(chunk_id, timeout=60)
    job.refresh_from_db()
    chunk = JobChunk.objects.get(pk=chunk_id)
    assert job.status == JobStatus.CANCELLED
    assert chunk.status == ChunkStatus.DONE
    assert chunk.analysed + chunk.failed + chunk.skipped == len(urls)
    # Bodies downloaded but never analysed were skipped: fewer analyses than downloads.
    assert chunk.analysed == watch.started < http_server.hits()
    assert (job.analysed, job.skipped) == (chunk.analysed, chunk.skipped)
    stats = pipe.stats()
    assert (stats["bytes"], stats["analysing"], stats["analysing_bytes"]) == (0, 0, 0)
    _settled_budget()


def test_an_analysis_that_fails_gives_the_budget_back(budget_settings, http_server, monkeypatch):
    good = [_large_png(n) for n in range(3)]
    damaged = _large_png(9)
    damaged = damaged[: len(damaged) // 2]  # a 900x900 header, its data cut half way
    budget_settings.MEDIA_ANALYSIS_DECODE_BUDGET = analysis_memory(good[0], media_batch.analysis_options(False))
    bodies = [damaged, *good, damaged[:-10]]
    urls = [
        http_server.route(f"/f-{n}.png", Reply(body=body, content_type="image/png")) for n, body in enumerate(bodies)
    ]
    job = _run_whole(urls, timeout=60)
    assert (job.status, job.analysed, job.failed) == (JobStatus.COMPLETED, len(good), 2)
    _settled_budget()
