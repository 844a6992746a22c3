"""Large bodies wait for their analysis on disk: the same values as in memory, no file left, the disk cap held.

A real HTTP server on loopback serves the bodies; chunks run as a consumer runs them (``transaction=True``),
each test in a pipeline of its own whose spool is a directory of the test's.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from lands.models import Media
from media_analysis.jobs import batch as media_batch
from media_analysis.jobs import pipeline as pipeline_module
from media_analysis.jobs import service as jobs
from media_analysis.jobs.pipeline import Pipeline, pipeline
from media_analysis.models import ChunkStatus, JobChunk, JobStatus
from tests.jobs.test_download_pipeline import Completions, _noise_png, _planned_job, _png, _run_async
from tests.support.http_server import Reply
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

THRESHOLD = 64 * 1024


@pytest.fixture
def spool_dir(settings, tmp_path, monkeypatch) -> Path:
    settings.MEDIA_ANALYSIS_SPOOL_THRESHOLD = THRESHOLD
    settings.MEDIA_ANALYSIS_SPOOL_DIR = str(tmp_path / "bodies")
    settings.MEDIA_ANALYSIS_REUSE_BY_CONTENT = False  # every body analysed, none copied
    monkeypatch.setattr(pipeline_module, "_instance", None)
    return tmp_path / "bodies"


def _body_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and not path.name.endswith(".lock")]


def _settled_spool(pipe: Pipeline, root: Path) -> None:
    stats = pipe.stats()
    assert (stats["bytes"], stats["analysing"], stats["analysing_bytes"]) == (0, 0, 0)
    assert (stats["spooled_bytes"], stats["spooled_files"]) == (0, 0)
    assert _body_files(root) == []


def _large_bodies(count: int) -> list[bytes]:
    return [_noise_png(n, side=200) for n in range(count)]  # about 120 KB each: past the threshold


def test_large_bodies_are_analysed_from_disk_with_the_values_of_an_analysis_in_memory(
    settings, spool_dir, http_server, monkeypatch
):
    bodies = [*_large_bodies(6), _png(1), _png(2)]
    assert sum(len(body) > THRESHOLD for body in bodies) == 6
    urls = [
        http_server.route(f"/v-{n}.png", Reply(body=body, content_type="image/png")) for n, body in enumerate(bodies)
    ]
    spooled_seen: list[int] = []
    real_analyse = media_batch.analyse_image

    def watched(content, options, **kwargs):
        spooled_seen.append(pipeline().stats()["spooled_files"])
        return real_analyse(content, options, **kwargs)

    monkeypatch.setattr(media_batch, "analyse_image", watched)

    rows: dict[str, dict[str, dict]] = {}
    for mode, threshold in (("memory", 0), ("disk", THRESHOLD)):
        settings.MEDIA_ANALYSIS_SPOOL_THRESHOLD = threshold
        monkeypatch.setattr(pipeline_module, "_instance", None)
        job, chunk_ids = _planned_job(urls, chunk_size=len(urls))
        completions = Completions()
        _run_async(chunk_ids, completions)
        completions.wait_for(*chunk_ids)
        job.refresh_from_db()
        assert (job.status, job.total, job.analysed, job.failed) == (JobStatus.COMPLETED, len(urls), len(urls), 0)
        rows[mode] = {
            media.url: {name: getattr(media, name) for name in media_batch.IMAGE_FIELDS}
            for media in Media.objects.of_land(job.land_id)
        }
        if mode == "disk":
            _settled_spool(pipeline(), spool_dir)
    assert rows["disk"] == rows["memory"]
    assert all(values["image_hash"] for values in rows["disk"].values())
    # The large bodies of the second job were on disk while analysed; the first job's pipeline had no spool.
    assert max(spooled_seen[len(urls) :]) >= 1
    assert max(spooled_seen[: len(urls)]) == 0


def test_bodies_waiting_on_disk_are_removed_after_success_and_failure(settings, spool_dir, held_analyses, http_server):
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 8
    good = _large_bodies(3)
    corrupt = b"\x89PNG\r\n\x1a\n" + random.Random(3).randbytes(200_000)
    not_image = random.Random(4).randbytes(150_000)
    routes = [*((f"/g-{n}.png", body) for n, body in enumerate(good)), ("/c.png", corrupt), ("/n.bin", not_image)]
    urls = [http_server.route(path, Reply(body=body, content_type="image/png")) for path, body in routes]
    job, chunk_ids = _planned_job(urls, chunk_size=len(urls))
    pipe = pipeline()
    completions = Completions()
    _run_async(chunk_ids, completions)
    # One body in analysis, the rest waiting (the backlog's four): all of them on disk meanwhile.
    wait_until(
        lambda: pipe.stats()["spooled_files"] == len(urls) and pipe.stats()["in_flight"] == 0,
        timeout=30,
        interval=0.01,
        what="every body on disk",
    )
    stats = pipe.stats()
    assert stats["spooled_bytes"] == sum(len(body) for _, body in routes)
    assert len(_body_files(spool_dir)) == len(urls)
    # In memory, the bodies waiting hold nothing: their bytes are on disk.
    assert stats["bytes"] == stats["analysing_bytes"] == 0
    for _ in urls:
        held_analyses.release()
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.analysed, job.failed) == (JobStatus.COMPLETED, 3, 2)
    classes = set(Media.objects.of_land(job.land_id).exclude(error_class=None).values_list("error_class", flat=True))
    assert classes == {"corrupt_image", "not_an_image"}
    _settled_spool(pipe, spool_dir)


def test_a_cancelled_jobs_bodies_on_disk_are_removed_with_exact_counts(settings, spool_dir, held_analyses, http_server):
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 1  # one download at a time: the rest stays queued
    bodies = _large_bodies(12)
    urls = [
        http_server.route(f"/k-{n}.png", Reply(body=body, content_type="image/png")) for n, body in enumerate(bodies)
    ]
    job, (chunk_id,) = _planned_job(urls, chunk_size=len(urls))
    pipe = pipeline()
    completions = Completions()
    _run_async([chunk_id], completions)
    wait_until(
        lambda: pipe.stats()["spooled_files"] >= 3 and pipe.stats()["in_flight"] == 0,
        timeout=30,
        interval=0.01,
        what="bodies waiting on disk",
    )
    jobs.cancel_job(job)
    wait_until(lambda: pipe.stats()["backlog"] == 0, timeout=30, what="the queued media to be dropped")
    for _ in urls:
        held_analyses.release()
    completions.wait_for(chunk_id)
    job.refresh_from_db()
    chunk = JobChunk.objects.get(pk=chunk_id)
    assert job.status == JobStatus.CANCELLED
    assert chunk.status == ChunkStatus.DONE
    assert chunk.analysed + chunk.failed + chunk.skipped == len(urls)
    assert chunk.analysed == http_server.hits()
    assert chunk.skipped == len(urls) - http_server.hits() > 0
    assert (job.analysed, job.skipped) == (chunk.analysed, chunk.skipped)
    _settled_spool(pipe, spool_dir)


def test_the_disk_cap_holds_and_the_bodies_past_it_wait_in_memory(settings, spool_dir, held_analyses, http_server):
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 8
    bodies = _large_bodies(5)
    size = len(bodies[0])
    cap = 2 * size + size // 2
    settings.MEDIA_ANALYSIS_SPOOL_MAX_BYTES = cap
    urls = [
        http_server.route(f"/d-{n}.png", Reply(body=body, content_type="image/png")) for n, body in enumerate(bodies)
    ]
    job, chunk_ids = _planned_job(urls, chunk_size=len(urls))
    pipe = pipeline()
    highest = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal highest
        while not stop.is_set():
            highest = max(highest, pipe.stats()["spooled_bytes"])
            stop.wait(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    completions = Completions()
    try:
        _run_async(chunk_ids, completions)
        wait_until(
            lambda: pipe.stats()["in_flight"] == 0 and pipe.stats()["analysing"] == len(urls),
            timeout=30,
            interval=0.01,
            what="every body downloaded",
        )
        stats = pipe.stats()
        # At most two bodies fit on disk; the others went on in memory, where the byte budget counts them. How
        # many end on disk depends on how the five downloads' pieces interleave: one that meets the cap goes
        # back to memory, even if another one's later goes back too.
        on_disk = stats["spooled_files"]
        assert 1 <= on_disk <= 2
        assert stats["spooled_bytes"] == on_disk * size <= cap
        assert stats["bytes"] == stats["analysing_bytes"] == (len(urls) - on_disk) * size
        for _ in urls:
            held_analyses.release()
        completions.wait_for(*chunk_ids)
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert highest <= cap
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, len(urls))
    _settled_spool(pipe, spool_dir)


def test_a_new_pipeline_removes_the_spool_of_a_dead_process(settings, spool_dir, monkeypatch):
    # A directory as a killed process leaves it: a body, and a lock file nobody holds.
    dead = spool_dir / "1-deadbeef"
    dead.mkdir(parents=True, mode=0o700)
    (dead / ".lock").write_bytes(b"")
    (dead / "body-x").write_bytes(b"y" * 1000)
    pipe = pipeline()
    assert not dead.exists()
    assert [path.name for path in spool_dir.iterdir() if path.is_dir()] == [Path(pipe._spool.directory).name]
