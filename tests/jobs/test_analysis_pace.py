"""The brake between downloads and analyses: no download starts while the analyses have enough bodies coming.

A real HTTP server on loopback serves the bodies; the analyses are held by a
semaphore, so that what the pipeline starts can be read from the server's
requests and the pipeline's state. Chunks run as a consumer runs them, so these
tests commit (``transaction=True``) and wait on the pipeline's state, never on a
sleep alone.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from media_analysis.jobs import pipeline as pipeline_module
from media_analysis.jobs.pipeline import Pipeline, pipeline
from media_analysis.models import JobStatus
from tests.jobs.test_download_pipeline import Completions, _noise_png, _planned_job, _png, _run_async
from tests.support.http_server import Reply
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def held_analyses(held_analyses, settings, monkeypatch) -> threading.Semaphore:
    """The analyses held, in a pipeline of its own: its measured means start from the module's initial values."""
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 16
    monkeypatch.setattr(pipeline_module, "_instance", None)
    return held_analyses


def _settled(pipe: Pipeline, stopped: Callable[[dict[str, int]], bool]) -> Callable[[], bool]:
    """A predicate: ``stopped`` holds of the pipeline's state, and the state has not moved for half a second."""
    seen: list[tuple[float, tuple[int, ...]]] = []

    def check() -> bool:
        stats = pipe.stats()
        state = (stats["in_flight"], stats["analysing"], stats["backlog"], stats["bytes"])
        if not seen or seen[-1][1] != state:
            seen.append((time.monotonic(), state))
        return stopped(stats) and time.monotonic() - seen[-1][0] >= 0.5

    return check


def test_downloads_stop_while_the_bodies_waiting_fill_the_backlog_and_resume_as_it_drains(
    held_analyses, http_server, monkeypatch
):
    # Nothing started ahead of the analyses beyond the backlog: the backlog alone is under test here.
    monkeypatch.setattr(pipeline_module, "ARRIVALS_MARGIN", 0)
    backlog = pipeline_module.ANALYSIS_BACKLOG_PER_THREAD
    urls = [http_server.route(f"/b-{n}.png", Reply(body=_png(n), content_type="image/png")) for n in range(20)]
    job, chunk_ids = _planned_job(urls, chunk_size=20)
    pipe = pipeline()
    completions = Completions()
    _run_async(chunk_ids, completions)

    def full(stats: dict[str, int]) -> bool:
        return stats["in_flight"] == 0 and stats["analysing"] == backlog

    wait_until(_settled(pipe, full), timeout=30, interval=0.01, what="downloads to stop at the backlog")
    assert http_server.hits() == backlog
    assert pipe.stats()["backlog"] == len(urls) - backlog

    # Two analyses end: two downloads start, and no more.
    held_analyses.release()
    held_analyses.release()
    wait_until(
        _settled(pipe, lambda stats: full(stats) and http_server.hits() == backlog + 2),
        timeout=30,
        interval=0.01,
        what="two more downloads, then a stop",
    )
    assert pipe.stats()["backlog"] == len(urls) - backlog - 2

    for _ in urls:
        held_analyses.release()
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.total, job.analysed, job.failed) == (JobStatus.COMPLETED, len(urls), len(urls), 0)
    assert http_server.hits() == len(urls)
    stats = pipe.stats()
    assert (stats["bytes"], stats["analysing"], stats["analysing_bytes"]) == (0, 0, 0)


def test_a_backlog_of_large_bodies_stops_the_downloads_by_its_bytes(held_analyses, settings, http_server, monkeypatch):
    monkeypatch.setattr(pipeline_module, "ARRIVALS_MARGIN", 0)
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 1  # one download at a time: each body counted before the next
    settings.MEDIA_ANALYSIS_SPOOL_THRESHOLD = 0  # every body in memory, where the backlog's bytes count it
    backlog = pipeline_module.ANALYSIS_BACKLOG_PER_THREAD
    # Bodies about four times the size a fresh pipeline expects: two of them outweigh the backlog's bytes.
    bodies = [_noise_png(n, side=600) for n in range(8)]
    assert min(len(body) for body in bodies) > 4 * pipeline_module.INITIAL_BODY_ESTIMATE
    urls = [
        http_server.route(f"/l-{n}.png", Reply(body=body, content_type="image/png")) for n, body in enumerate(bodies)
    ]
    job, chunk_ids = _planned_job(urls, chunk_size=8)
    pipe = pipeline()
    completions = Completions()
    _run_async(chunk_ids, completions)

    wait_until(
        _settled(pipe, lambda stats: stats["in_flight"] == 0 and stats["analysing"] > 0),
        timeout=30,
        interval=0.01,
        what="downloads to stop at the backlog's bytes",
    )
    stats = pipe.stats()
    # Stopped by the bytes, with room left in number.
    assert stats["analysing"] == http_server.hits() == 2 < backlog
    by_path = {url.rsplit("/", 1)[1]: len(body) for url, body in zip(urls, bodies, strict=True)}
    fetched = [request.path.rsplit("/", 1)[1] for request in http_server.requests]
    assert stats["analysing_bytes"] == sum(by_path[name] for name in fetched)

    for _ in urls:
        held_analyses.release()
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, len(urls))
    assert http_server.hits() == len(urls)
    assert pipe.stats()["analysing_bytes"] == 0


def test_downloads_in_flight_count_with_the_bodies_waiting_against_what_the_analyses_take_in(
    held_analyses, http_server, monkeypatch
):
    # Measured means as they start: each analysis a quarter of a download's time, so one analysis thread takes in
    # four bodies during a download; with the margin, the ahead limit is the backlog and six downloads.
    monkeypatch.setattr(pipeline_module, "INITIAL_ANALYSIS_SECONDS", 0.25)
    monkeypatch.setattr(pipeline_module, "INITIAL_DOWNLOAD_SECONDS", 1.0)
    ahead = pipeline_module.ANALYSIS_BACKLOG_PER_THREAD + int(pipeline_module.ARRIVALS_MARGIN * 4)
    release = threading.Event()  # the server answers nothing until then: every download stays in flight
    urls = [
        http_server.route(f"/a-{n}.png", Reply(body=_png(n), content_type="image/png", hold=release)) for n in range(30)
    ]
    job, chunk_ids = _planned_job(urls, chunk_size=30)
    pipe = pipeline()
    completions = Completions()
    try:
        _run_async(chunk_ids, completions)
        assert pipe.stats()["ahead"] == ahead
        wait_until(
            _settled(pipe, lambda stats: stats["in_flight"] == ahead and http_server.hits() == ahead),
            timeout=30,
            interval=0.01,
            what="downloads in flight to stop at the ahead limit",
        )
        stats = pipe.stats()
        # The download concurrency (64) and the per-host limit (16) had room: the analyses' pace held them.
        assert (stats["analysing"], stats["backlog"]) == (0, len(urls) - ahead)
    finally:
        release.set()
    for _ in urls:
        held_analyses.release()
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.total, job.analysed) == (JobStatus.COMPLETED, len(urls), len(urls))
    assert http_server.hits() == len(urls)


def test_a_stalled_download_holds_only_its_own_place_in_the_pace(held_analyses, http_server, monkeypatch):
    # A pace of five (the backlog of four and one download ahead): a download that never answers holds one
    # place, and the rest of its chunk is downloaded and analysed around it.
    monkeypatch.setattr(pipeline_module, "INITIAL_ANALYSIS_SECONDS", 0.5)
    monkeypatch.setattr(pipeline_module, "INITIAL_DOWNLOAD_SECONDS", 0.5)
    stall = threading.Event()
    stalled = http_server.route("/stalled.png", Reply(body=_png(99), content_type="image/png", hold=stall))
    others = [http_server.route(f"/s-{n}.png", Reply(body=_png(n), content_type="image/png")) for n in range(12)]
    urls = [stalled, *others]
    random.Random(0).shuffle(urls)
    job, chunk_ids = _planned_job(urls, chunk_size=len(urls))
    pipe = pipeline()
    completions = Completions()
    try:
        _run_async(chunk_ids, completions)
        for _ in others:
            held_analyses.release()

        def only_the_stalled_one_left() -> bool:
            stats = pipe.stats()
            return (stats["in_flight"], stats["analysing"], stats["backlog"]) == (1, 0, 0)

        wait_until(only_the_stalled_one_left, timeout=30, interval=0.01, what="only the stalled download left")
        assert http_server.hits() == len(urls)
        assert completions.order == []
    finally:
        stall.set()
    held_analyses.release()
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, len(urls))
