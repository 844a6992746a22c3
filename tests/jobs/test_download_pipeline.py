"""The process-wide download pipeline: slow downloads cost only themselves, hosts are polite, URLs are fetched once.

Chunks are run as a consumer runs them (``run_chunk(..., wait=False)``): the
pipeline's own threads write the rows and count them, so these tests commit
(``transaction=True``). They wait on events and on the pipeline's state, never
on a sleep.
"""

from __future__ import annotations

import io
import threading
import time
from collections import defaultdict

import pytest
from django.db import connection
from PIL import Image

from lands.models import AnalysisStatus, Media
from media_analysis.jobs import batch as media_batch
from media_analysis.jobs import pipeline as pipeline_module
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.jobs.pipeline import pipeline
from media_analysis.models import AnalysisJob, ChunkStatus, JobChunk, JobStatus
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import LocalHTTPServer, Reply
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _png(seed: int = 0, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, 120)).save(buffer, format="PNG")
    return buffer.getvalue()


def _noise_png(seed: int, side: int = 128) -> bytes:
    """A PNG that does not compress: about 3 * side * side bytes."""
    import random

    rng = random.Random(seed)
    image = Image.frombytes("RGB", (side, side), bytes(rng.getrandbits(8) for _ in range(3 * side * side)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def _planned_job(urls: list[str], chunk_size: int) -> tuple[AnalysisJob, list[int]]:
    land = make_land()
    for url in urls:
        # A page each: the same URL may appear on several pages.
        make_media(make_expression(land, depth=0, relevance=1), url=url)
    job = jobs.create_job(land, JobParameters())
    chunk_ids = jobs.plan_job(job.pk, chunk_size=chunk_size)
    return job, chunk_ids


class Completions:
    """Records the order in which chunks complete (the pipeline's completion thread calls it)."""

    def __init__(self) -> None:
        self.order: list[int] = []
        self.outcomes: list[jobs.StepOutcome] = []
        self._cond = threading.Condition()

    def callback(self, chunk_id: int):
        def done(outcome: jobs.StepOutcome) -> None:
            with self._cond:
                self.order.append(chunk_id)
                self.outcomes.append(outcome)
                self._cond.notify_all()

        return done

    def wait_for(self, *chunk_ids: int, timeout: float = 60) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: set(chunk_ids) <= set(self.order), timeout)
        assert ok, f"chunks {chunk_ids} not completed; completed: {self.order}"


def _run_async(chunk_ids: list[int], completions: Completions) -> None:
    for chunk_id in chunk_ids:
        assert jobs.run_chunk(chunk_id, on_done=completions.callback(chunk_id), wait=False) is None


def _wait_idle() -> None:
    pipe = pipeline()
    wait_until(lambda: pipe.stats()["batches"] == 0, timeout=60, what="the pipeline to be idle")


def test_a_stalled_download_delays_neither_the_rest_of_its_chunk_nor_the_next_chunk(http_server):
    stall = threading.Event()
    stalled = http_server.route("/a-stalled.png", Reply(body=_png(99), content_type="image/png", hold=stall))
    others = [http_server.route(f"/ok-{n}.png", Reply(body=_png(n), content_type="image/png")) for n in range(5)]
    # Ordered by URL, the stalled one and two others share the first chunk; three others make the second.
    job, (first, second) = _planned_job([others[0], others[1], stalled, others[2], others[3], others[4]], 3)
    first_ids = set(JobChunk.objects.get(pk=first).media_ids)
    assert Media.objects.get(url=stalled).pk in first_ids
    completions = Completions()
    try:
        _run_async([first, second], completions)
        completions.wait_for(second)
        pipe = pipeline()
        # Everything else of the first chunk is analysed too: only the stalled download remains.

        def only_the_stalled_one_left() -> bool:
            stats = pipe.stats()
            return (stats["backlog"], stats["in_flight"], stats["analysing"], stats["batches"]) == (0, 1, 0, 1)

        wait_until(only_the_stalled_one_left, timeout=30, what="the stalled download to be the only work left")
        assert completions.order == [second]
        assert JobChunk.objects.get(pk=first).status == ChunkStatus.PENDING
    finally:
        stall.set()
    completions.wait_for(first)
    job.refresh_from_db()
    assert (job.status, job.analysed, job.failed, job.skipped) == (JobStatus.COMPLETED, 6, 0, 0)


def test_media_sharing_a_url_are_downloaded_once_per_job(http_server):
    urls = [http_server.route(f"/shared-{n}.png", Reply(body=_png(n), content_type="image/png")) for n in range(4)]
    # Every URL on three media (the same picture on several pages): 12 media, 4 distinct URLs.
    job, chunk_ids = _planned_job([url for url in urls for _ in range(3)], chunk_size=2)
    for chunk_id in chunk_ids:
        media = Media.objects.filter(pk__in=JobChunk.objects.get(pk=chunk_id).media_ids)
        assert media.values("url").distinct().count() == 1  # a URL's media are never split
    completions = Completions()
    _run_async(chunk_ids, completions)
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.total, job.analysed) == (JobStatus.COMPLETED, 12, 12)
    assert {f"/shared-{n}.png": http_server.hits(f"/shared-{n}.png") for n in range(4)} == {
        f"/shared-{n}.png": 1 for n in range(4)
    }
    hashes = defaultdict(set)
    for media in Media.objects.of_land(job.land_id):
        assert media.analysis_status == AnalysisStatus.DONE
        hashes[media.url].add(media.phash)
    assert all(len(values) == 1 for values in hashes.values())


def test_no_host_gets_more_downloads_at_once_than_the_per_host_limit(settings):
    limit = 2
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = limit
    settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY = 64
    # The bodies below start only once their host's downloads have met: on a busy machine that may take
    # longer than the body-start limit, which is not what this test is about.
    settings.MEDIA_ANALYSIS_BODY_START_TIMEOUT = 0
    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    settings.MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS = hosts
    lock = threading.Lock()
    current: dict[str, int] = defaultdict(int)
    peak: dict[str, int] = defaultdict(int)
    # The body of a host waits until ``limit`` of its downloads are inside: if the gate let
    # one more through, it would be counted there.
    meet = {host: threading.Barrier(limit, timeout=5) for host in hosts}

    def body(host: str, seed: int):
        def stream():
            with lock:
                current[host] += 1
                peak[host] = max(peak[host], current[host])
            try:
                try:
                    meet[host].wait()
                except threading.BrokenBarrierError:
                    meet[host].reset()
                yield _png(seed)
            finally:
                with lock:
                    current[host] -= 1

        return stream

    urls = []
    servers = []
    for host in hosts:
        server = LocalHTTPServer(host=host).start()
        servers.append(server)
        for n in range(4 * limit):
            urls.append(
                server.route(
                    f"/{n}.png", Reply(content_type="image/png", framing="chunked", stream=body(host, len(urls)))
                )
            )
    try:
        job, chunk_ids = _planned_job(urls, chunk_size=5)
        completions = Completions()
        _run_async(chunk_ids, completions)
        completions.wait_for(*chunk_ids)
    finally:
        for server in servers:
            server.stop()
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, len(urls))
    assert dict(peak) == {host: limit for host in hosts}


def test_the_plan_interleaves_hosts_and_keeps_a_url_in_one_chunk():
    body = jobs.DEAL_BODY
    rows = [(pk, f"http://big.example/{pk:03d}.jpg", body, None) for pk in range(1, 13)]
    rows += [(100 + n, f"http://small-{n}.example/a.jpg", body, None) for n in range(3)]
    rows += [(200 + n, "http://small-0.example/shared.jpg", body, None) for n in range(7)]  # one URL on 7 media
    rows.sort(key=lambda row: (row[1], row[0]))
    chunks = list(jobs.interleaved_chunks(rows, chunk_size=4))
    assert sorted(pk for chunk in chunks for pk in chunk) == sorted(pk for pk, *_ in rows)
    # The shared URL's media are together, in one chunk larger than the others.
    shared = [chunk for chunk in chunks if 200 in chunk]
    assert len(shared) == 1
    assert set(range(200, 207)) <= set(shared[0])
    assert max(len(chunk) for chunk in chunks) == len(shared[0]) > 4
    # The first chunk mixes the hosts; the big host's media are spread, not packed in the first chunks.
    host_of = {pk: url.split("/")[2] for pk, url, *_ in rows}
    assert len({host_of[pk] for pk in chunks[0]}) >= 3
    big_per_chunk = [sum(host_of[pk] == "big.example" for pk in chunk) for chunk in chunks]
    assert big_per_chunk[0] < 4


def test_the_plan_deals_urls_that_timed_out_first():
    def rank(slow: bool) -> int:
        return jobs.DEAL_SLOW if slow else jobs.DEAL_BODY

    rows = [(pk, f"http://big.example/{pk:03d}.jpg", rank(pk in (9, 11)), None) for pk in range(1, 13)]
    rows += [(100 + n, f"http://small-{n}.example/a.jpg", rank(n == 2), None) for n in range(3)]
    # One URL on three media, one of which timed out: the whole URL is slow, and stays in one chunk.
    rows += [(200 + n, "http://small-0.example/shared.jpg", rank(n == 1), None) for n in range(3)]
    rows.sort(key=lambda row: (row[1], row[0]))
    chunks = list(jobs.interleaved_chunks(rows, chunk_size=4))
    order = [pk for chunk in chunks for pk in chunk]
    assert sorted(order) == sorted(pk for pk, *_ in rows)
    slow = {9, 11, 102, 200, 201, 202}
    assert set(order[: len(slow)]) == slow
    # Slow URLs are dealt across hosts too: the big host's two are not side by side.
    assert order.index(11) - order.index(9) > 1


def test_a_forced_job_plans_the_media_that_timed_out_first():
    land = make_land()
    page = make_expression(land, depth=0, relevance=1)
    media = [make_media(page, url=f"http://127.0.0.1:9/{n}.jpg") for n in range(6)]
    Media.objects.filter(pk=media[4].pk).update(error_class="timeout", analysis_status=AnalysisStatus.FAILED)
    Media.objects.filter(pk=media[1].pk).update(error_class="network", analysis_status=AnalysisStatus.FAILED)
    job = jobs.create_job(land, JobParameters(force=True))
    chunk_ids = jobs.plan_job(job.pk, chunk_size=2)
    first = JobChunk.objects.get(pk=chunk_ids[0])
    assert media[4].pk in first.media_ids
    assert sorted(pk for c in JobChunk.objects.filter(job=job) for pk in c.media_ids) == sorted(m.pk for m in media)


def test_bytes_held_stay_within_the_budget(settings, http_server, monkeypatch):
    body = _noise_png(1)
    size = len(body)
    budget = 3 * size
    settings.MEDIA_ANALYSIS_BYTES_IN_FLIGHT = budget
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 16
    settings.MEDIA_ANALYSIS_REUSE_BY_CONTENT = False  # one body under twelve URLs: each waits for its analysis
    analyse = threading.Event()
    real_analyse = media_batch.analyse_image

    def held_analysis(content, options, **kwargs):
        analyse.wait(timeout=60)
        return real_analyse(content, options, **kwargs)

    monkeypatch.setattr(media_batch, "analyse_image", held_analysis)
    # A pipeline of its own: one that has seen only tiny bodies expects tiny ones.
    monkeypatch.setattr(pipeline_module, "_instance", None)
    urls = [http_server.route(f"/noise-{n}.png", Reply(body=body, content_type="image/png")) for n in range(12)]
    job, chunk_ids = _planned_job(urls, chunk_size=12)
    pipe = pipeline()
    peak = 0
    completions = Completions()
    try:
        _run_async(chunk_ids, completions)

        seen: list[tuple[float, tuple[int, ...]]] = []

        def settled() -> bool:
            # Stopped, not between two downloads: the state has not moved for a while. Between one body's
            # arrival and the next download's start nothing is in flight for an instant either.
            nonlocal peak
            stats = pipe.stats()
            peak = max(peak, stats["bytes"])
            state = (stats["bytes"], stats["analysing"], stats["in_flight"], stats["backlog"])
            if not seen or seen[-1][1] != state:
                seen.append((time.monotonic(), state))
            stopped = stats["analysing"] > 0 and stats["in_flight"] == 0 and stats["backlog"] > 0
            return stopped and time.monotonic() - seen[-1][0] >= 0.5

        # Analyses are held: downloads stop once the bodies waiting for them fill the budget.
        wait_until(settled, timeout=30, interval=0.01, what="downloads to stop at the budget")
        held = pipe.stats()
        assert held["bytes"] >= budget - size
        assert held["bytes"] < budget + size
        assert http_server.hits() == held["analysing"] < len(urls)
    finally:
        analyse.set()
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, len(urls))
    assert pipe.stats()["bytes"] == 0


def test_a_job_cancelled_mid_chunk_skips_its_queued_media_with_exact_counts(settings, http_server):
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 1
    release = threading.Event()
    urls = [
        http_server.route(f"/held-{n}.png", Reply(body=_png(n), content_type="image/png", hold=release))
        for n in range(5)
    ]
    job, (chunk_id,) = _planned_job(urls, chunk_size=10)
    completions = Completions()
    pipe = pipeline()
    try:
        _run_async([chunk_id], completions)
        wait_until(lambda: http_server.hits() == 1, timeout=30, what="the first download")
        jobs.cancel_job(job)
        # The heartbeat notices the cancellation: the four queued media are dropped.
        wait_until(lambda: pipe.stats()["backlog"] == 0, timeout=30, what="the queued media to be dropped")
    finally:
        release.set()
    completions.wait_for(chunk_id)
    job.refresh_from_db()
    chunk = JobChunk.objects.get(pk=chunk_id)
    assert job.status == JobStatus.CANCELLED
    assert (chunk.status, chunk.analysed, chunk.failed, chunk.skipped) == (ChunkStatus.DONE, 1, 0, 4)
    assert (job.analysed, job.failed, job.skipped, job.chunks_done) == (1, 0, 4, 1)
    assert http_server.hits() == 1
    assert Media.objects.of_land(job.land_id).filter(analysis_status=AnalysisStatus.PENDING).count() == 4


def test_a_429_pauses_its_host_while_another_hosts_media_complete(settings, http_server):
    settings.MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS = ["127.0.0.1", "127.0.0.2"]
    pause = 2
    throttled = [
        http_server.route(
            f"/busy-{n}.png",
            Reply(status=429, body=b"slow down", content_type="text/plain", headers={"Retry-After": str(pause)}),
            Reply(body=_png(n), content_type="image/png"),
        )
        for n in range(2)
    ]
    other = LocalHTTPServer(host="127.0.0.2").start()
    try:
        elsewhere = [
            other.route(f"/free-{n}.png", Reply(body=_png(10 + n), content_type="image/png")) for n in range(4)
        ]
        job, chunk_ids = _planned_job(throttled + elsewhere, chunk_size=10)
        completions = Completions()
        _run_async(chunk_ids, completions)
        completions.wait_for(*chunk_ids)
        free = other.requests
    finally:
        other.stop()
    job.refresh_from_db()
    assert (job.status, job.analysed, job.failed) == (JobStatus.COMPLETED, 6, 0)
    busy = sorted(http_server.requests, key=lambda r: r.at)
    first_429 = busy[0].at
    # Each throttled URL answered 429 once, then 200: nothing reached that host during its pause...
    assert sorted(r.path for r in busy) == sorted(["/busy-0.png", "/busy-1.png"] * 2)
    after_pause = [r for r in busy if r.at > first_429 + 0.5]
    assert len(after_pause) >= 2
    assert all(r.at >= first_429 + pause * 0.9 for r in after_pause)
    # ...while the other host's media were all fetched.
    assert len(free) == 4
    assert all(r.at < after_pause[0].at for r in free)


def test_a_stopping_process_lets_its_chunks_finish_and_claims_no_more(http_server, monkeypatch):
    monkeypatch.setattr(pipeline_module, "_instance", None)  # this one is closed at the end
    release = threading.Event()
    held = http_server.route("/held.png", Reply(body=_png(), content_type="image/png", hold=release))
    job, (first,) = _planned_job([held], chunk_size=10)
    _, (later,) = _planned_job([http_server.route("/later.png", Reply(body=_png(1)))], chunk_size=10)
    completions = Completions()
    _run_async([first], completions)
    wait_until(lambda: http_server.hits("/held.png") == 1, timeout=30, what="the held download")
    pipe = pipeline()
    assert pipe.drain(timeout=0.1) is False  # the chunk in flight is not done yet
    assert jobs.run_chunk(later, wait=False) == jobs.StepOutcome()  # a stopping process claims nothing new
    assert JobChunk.objects.get(pk=later).claimed_by == ""
    release.set()
    assert pipe.drain(timeout=30) is True
    completions.wait_for(first)
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, 1)


def test_a_chunk_waiting_for_room_is_claimed_so_it_is_neither_recovered_nor_run_twice(settings, http_server):
    settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY = 1  # room for two queued URLs
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 1
    release = threading.Event()
    busy = [
        http_server.route(f"/busy-{n}.png", Reply(body=_png(n), content_type="image/png", hold=release))
        for n in range(4)
    ]
    waiting = [
        http_server.route(f"/waiting-{n}.png", Reply(body=_png(10 + n), content_type="image/png")) for n in range(2)
    ]
    _, (first,) = _planned_job(busy, chunk_size=10)
    job, (second,) = _planned_job(waiting, chunk_size=10)
    completions = Completions()
    pipe = pipeline()
    _run_async([first], completions)
    wait_until(lambda: pipe.stats()["backlog"] == 3, timeout=30, what="a backlog over the limit")
    returned = threading.Event()

    def deliver() -> None:
        try:
            jobs.run_chunk(second, on_done=completions.callback(second), wait=False)
        finally:
            connection.close()
            returned.set()

    worker = threading.Thread(target=deliver)
    worker.start()
    try:
        wait_until(lambda: pipe.holds_chunk(second), timeout=30, what="the second chunk to wait for room")
        # Held from its reservation on; the claim is written just after it, before the wait for room.
        wait_until(lambda: bool(JobChunk.objects.get(pk=second).claimed_by), timeout=30, what="the claim")
        assert not returned.is_set()  # claimed while it waits
        assert second not in jobs.chunks_to_recover(120, 900, queued_chunk_ids=set())
        # A duplicate delivery meanwhile (a recovery elsewhere) does nothing.
        assert jobs.run_chunk(second, wait=False) == jobs.StepOutcome()
    finally:
        release.set()
        worker.join(timeout=60)
    completions.wait_for(first, second)
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, 2)
    assert [http_server.hits(f"/waiting-{n}.png") for n in range(2)] == [1, 1]


def test_with_robots_respected_a_disallowed_media_fails_and_the_others_are_analysed(settings, http_server):
    settings.MEDIA_ANALYSIS_RESPECT_ROBOTS = True
    http_server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
    allowed = [http_server.route(f"/open/{n}.png", Reply(body=_png(n), content_type="image/png")) for n in range(3)]
    refused = http_server.route("/private/secret.png", Reply(body=_png(9), content_type="image/png"))
    job, chunk_ids = _planned_job([*allowed, refused], chunk_size=10)
    completions = Completions()
    _run_async(chunk_ids, completions)
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.analysed, job.failed) == (JobStatus.COMPLETED, 3, 1)
    media = Media.objects.get(url=refused)
    assert (media.analysis_status, media.error_class) == (AnalysisStatus.FAILED, "robots_disallowed")
    assert http_server.hits("/private/secret.png") == 0  # never requested
    assert http_server.hits("/robots.txt") == 1  # one fetch for the site, whatever the number of its media


def test_workers_waiting_for_room_each_return_when_their_own_room_is_there(settings, http_server, monkeypatch):
    settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY = 1
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 1
    monkeypatch.setattr(pipeline_module, "_instance", None)  # this one is closed at the end
    holds = [threading.Event() for _ in range(4)]
    urls = [
        http_server.route(f"/room-{n}.png", Reply(body=_png(n), content_type="image/png", hold=holds[n]))
        for n in range(4)
    ]
    job, chunk_ids = _planned_job(urls, chunk_size=10)
    completions = Completions()
    pipe = pipeline()
    returned: dict[str, bool] = {}

    def waiter(name: str, limit: int) -> threading.Thread:
        thread = threading.Thread(target=lambda: returned.__setitem__(name, pipe.wait_for_room(limit, timeout=60)))
        thread.start()
        return thread

    try:
        _run_async(chunk_ids, completions)
        wait_until(lambda: pipe.stats()["backlog"] == 3, timeout=30, what="one download in flight, three queued")
        some_room, no_backlog = waiter("two queued", 2), waiter("none queued", 0)
        wait_until(lambda: len(pipe._room_waiters) == 2, timeout=30, what="both workers to wait")
        holds[0].set()  # the next download starts: two left queued
        some_room.join(timeout=30)
        assert returned == {"two queued": True}
        assert pipe.stats()["backlog"] == 2
        holds[1].set()
        holds[2].set()  # the last download starts: none left queued
        no_backlog.join(timeout=30)
        assert returned == {"two queued": True, "none queued": True}
        never = waiter("never", -1)  # no backlog is ever below zero: only a shutdown ends this wait
        wait_until(lambda: len(pipe._room_waiters) == 1, timeout=30, what="the third worker to wait")
    finally:
        for hold in holds:
            hold.set()
    assert pipe.drain(timeout=30) is True
    never.join(timeout=30)
    assert returned["never"] is True
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, 4)
