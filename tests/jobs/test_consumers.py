"""Whole jobs run by real Huey consumers in subprocesses, on SqliteHuey and on Redis.

Marked slow: each test starts consumer processes and a local HTTP server.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from lands.models import AnalysisStatus, Media
from media_analysis.models import AnalysisJob, ChunkStatus, JobStatus
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply
from tests.support.processes import Consumer, child_env, manage, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _jpeg(seed: int) -> bytes:
    image = Image.new("RGB", (64, 48), ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    image.putpixel((seed % 64, seed % 48), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _land_served_by(server, images: int, broken: int = 0, latency: float = 0.0):
    land = make_land()
    pages = [make_expression(land, depth=0, relevance=1) for _ in range(5)]
    for index in range(images):
        path = f"/img/{index}.jpg"
        server.route(path, Reply(body=_jpeg(index), content_type="image/jpeg", latency=latency))
        make_media(pages[index % len(pages)], url=server.url(path))
    for index in range(broken):
        path = f"/broken/{index}.jpg"
        server.route(path, Reply(body=b"<html>not here</html>", content_type="text/html", latency=latency))
        make_media(pages[index % len(pages)], url=server.url(path))
    return land


def _enqueue(env, land) -> AnalysisJob:
    result = manage(env, "reprocess_media", "--land-id", str(land.pk), "--enqueue")
    assert result.returncode == 0, result.stderr
    job_id = int(result.stdout.strip().splitlines()[-1])
    return AnalysisJob.objects.get(pk=job_id)


def _wait_finished(job: AnalysisJob, consumers, timeout: float = 60) -> AnalysisJob:
    def finished() -> bool:
        job.refresh_from_db()
        return job.status not in (JobStatus.PENDING, JobStatus.RUNNING)

    try:
        wait_until(finished, timeout, what=f"job {job.pk} to finish")
    except AssertionError:
        logs = "\n".join(c.log() for c in consumers)
        raise AssertionError(f"job {job.pk} stuck at {job.status} {job.processed}/{job.total}\n{logs}") from None
    return job


def _assert_exact(job: AnalysisJob, analysed: int, failed: int) -> None:
    assert job.status == JobStatus.COMPLETED
    assert (job.total, job.analysed, job.failed, job.skipped) == (analysed + failed, analysed, failed, 0)
    assert job.chunks_done == job.chunks_total == job.chunks.count()
    assert not job.chunks.exclude(status=ChunkStatus.DONE).exists()
    chunk_sums = [sum(c.analysed for c in job.chunks.all()), sum(c.failed for c in job.chunks.all())]
    assert chunk_sums == [analysed, failed]
    media = Media.objects.of_land(job.land_id)
    assert media.filter(analysis_status=AnalysisStatus.DONE).count() == analysed
    assert media.filter(analysis_status=AnalysisStatus.FAILED, error_class="not_an_image").count() == failed
    assert not media.filter(analysis_status=AnalysisStatus.PENDING).exists()


def test_embedded_sqlite_queue_with_a_real_consumer(http_server, tmp_path):
    land = _land_served_by(http_server, images=30, broken=3)
    env = child_env(tmp_path, MEDIA_ANALYSIS_CHUNK_SIZE="7")
    consumer = Consumer(env, tmp_path / "consumer.log")
    try:
        job = _wait_finished(_enqueue(env, land), [consumer])
    finally:
        consumer.stop()
    _assert_exact(job, analysed=30, failed=3)
    assert job.chunks_total == 5


def test_redis_queue_with_two_consumers(http_server, tmp_path, redis_server_url):
    import redis

    redis.Redis.from_url(redis_server_url).flushdb()
    land = _land_served_by(http_server, images=60, broken=4, latency=0.02)
    env = child_env(tmp_path, redis_url=redis_server_url, MEDIA_ANALYSIS_CHUNK_SIZE="4")
    consumers = [Consumer(env, tmp_path / f"consumer-{i}.log") for i in range(2)]
    try:
        # Both running before the job is queued: on a loaded machine one consumer's start can take longer than
        # the whole job, and the other would take every chunk.
        for consumer in consumers:
            consumer.wait_started()
        job = _wait_finished(_enqueue(env, land), consumers)
    finally:
        for consumer in consumers:
            consumer.stop()
    _assert_exact(job, analysed=60, failed=4)
    workers = {chunk.claimed_by.rpartition(":")[2] for chunk in job.chunks.all()}
    assert len(workers) == 2, f"both consumers should have taken chunks, got {workers}"


@pytest.mark.parametrize("deployment", ["embedded", "redis"])
def test_a_consumer_killed_mid_job_is_finished_by_its_replacement(http_server, tmp_path, deployment, request):
    redis_url = None
    if deployment == "redis":
        import redis

        redis_url = request.getfixturevalue("redis_server_url")
        redis.Redis.from_url(redis_url).flushdb()
    land = _land_served_by(http_server, images=80, latency=0.03)
    env = child_env(
        tmp_path, redis_url=redis_url, MEDIA_ANALYSIS_CHUNK_SIZE="5", MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY="2"
    )
    first = Consumer(env, tmp_path / "first.log")
    job = _enqueue(env, land)

    def midway() -> bool:
        job.refresh_from_db()
        return job.processed >= 10

    try:
        wait_until(midway, 60, interval=0.02, what="the job to be under way")
    finally:
        first.kill()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.processed < job.total, "the job finished before the kill: make it longer"
    replacement = Consumer(env, tmp_path / "replacement.log")
    try:
        job = _wait_finished(job, [replacement])
    finally:
        replacement.stop()
    _assert_exact(job, analysed=80, failed=0)
