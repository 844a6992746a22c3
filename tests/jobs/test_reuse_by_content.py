"""Analyses reused by content: bytes already analysed by the current version are not decoded again.

Chunks run as a consumer runs them (the pipeline's threads write the rows), so
these tests commit (``transaction=True``) and wait on the chunks' completions.
"""

from __future__ import annotations

import io
import threading
from collections import defaultdict

import pytest
from PIL import Image

from lands.models import AnalysisStatus, Land, Media, MediaType
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.jobs import batch as media_batch
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.jobs.progress import job_snapshot
from media_analysis.models import AnalysisJob, JobChunk, JobStatus
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import LocalHTTPServer, Reply

pytestmark = pytest.mark.django_db(transaction=True)


def picture(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256)).save(buffer, "PNG")
    return buffer.getvalue()


def serve_copies(server: LocalHTTPServer, pictures: int, copies: int, prefix: str) -> list[str]:
    """``pictures`` distinct files, each under ``copies`` URLs: picture n is /<prefix>/<copy>/<n>.png."""
    bodies = [picture(n) for n in range(pictures)]
    return [
        server.route(f"/{prefix}/{copy}/{n}.png", Reply(body=bodies[n], content_type="image/png"))
        for copy in range(copies)
        for n in range(pictures)
    ]


def land_with(urls: list[str]) -> Land:
    land = make_land()
    for url in urls:
        make_media(make_expression(land, depth=0, relevance=1), url=url)
    return land


def run_job(land: Land, chunk_size: int, force: bool = False) -> AnalysisJob:
    job = jobs.create_job(land, JobParameters(force=force))
    chunk_ids = jobs.plan_job(job.pk, chunk_size=chunk_size)
    done = threading.Event()
    outcomes: list[jobs.StepOutcome] = []
    lock = threading.Lock()

    def finished(outcome: jobs.StepOutcome) -> None:
        with lock:
            outcomes.append(outcome)
            if len(outcomes) == len(chunk_ids):
                done.set()

    for chunk_id in chunk_ids:
        assert jobs.run_chunk(chunk_id, on_done=finished, wait=False) is None
    assert done.wait(120), "the job's chunks did not complete"
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert any(outcome.land_to_cluster == land.pk for outcome in outcomes)
    return job


def values_by_content(land: Land) -> dict[str, set[tuple]]:
    seen: dict[str, set[tuple]] = defaultdict(set)
    for media in Media.objects.of_land(land.pk):
        assert media.analysis_status == AnalysisStatus.DONE
        assert media.analysis_version == ANALYSIS_VERSION
        assert media.image_hash is not None
        seen[media.image_hash].add((media.width, media.phash, media.colorhash, str(media.dominant_colors)))
    return seen


@pytest.mark.slow
def test_200_pictures_under_2000_urls_are_200_analyses_and_1800_reuses(http_server, settings):
    settings.MEDIA_ANALYSIS_THUMBNAIL_SIZE = 0
    urls = serve_copies(http_server, pictures=200, copies=10, prefix="land")
    land = land_with(urls)

    job = run_job(land, chunk_size=100)

    assert (job.total, job.analysed, job.reused, job.failed, job.skipped) == (2000, 200, 1800, 0, 0)
    chunks = JobChunk.objects.filter(job=job)
    assert sum(c.reused for c in chunks) == 1800
    assert sum(c.analysed for c in chunks) == 200
    values = values_by_content(land)
    assert len(values) == 200
    assert all(len(copies) == 1 for copies in values.values())  # every copy holds its picture's values
    assert job.success_rate == 100.0


def test_copies_in_one_chunk_are_analysed_once_and_share_the_thumbnail(http_server, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "medianalyse": {"BACKEND": "django.core.files.storage.InMemoryStorage", "OPTIONS": {}},
    }
    settings.MEDIA_ANALYSIS_THUMBNAIL_SIZE = 32
    urls = serve_copies(http_server, pictures=3, copies=4, prefix="one-chunk")
    land = land_with(urls)

    job = run_job(land, chunk_size=100)

    assert (job.analysed, job.reused) == (3, 9)
    snapshot = job_snapshot(job)  # what the progress page and its socket show
    assert (snapshot["reused"], snapshot["processed"], snapshot["success_rate"]) == (9, 12, 100.0)
    thumbnails = defaultdict(set)
    for media in Media.objects.of_land(land.pk):
        thumbnails[media.image_hash].add(media.thumbnail_key)
    assert len(thumbnails) == 3
    assert all(len(keys) == 1 and None not in keys for keys in thumbnails.values())


def test_a_second_land_copies_the_first_lands_values(http_server):
    first = land_with(serve_copies(http_server, pictures=4, copies=1, prefix="first"))
    assert run_job(first, chunk_size=10).analysed == 4
    second = land_with(serve_copies(http_server, pictures=4, copies=2, prefix="second"))

    job = run_job(second, chunk_size=3)

    assert (job.analysed, job.reused) == (0, 8)
    assert values_by_content(second).keys() == values_by_content(first).keys()
    for media in Media.objects.of_land(second.pk):
        origin = Media.objects.of_land(first.pk).get(image_hash=media.image_hash)
        assert (media.phash, media.dominant_colors, media.exif_data) == (origin.phash, origin.dominant_colors, {})
        assert media.attempts == 1
        assert media.values_at is not None


def test_a_forced_job_decodes_again_what_earlier_jobs_analysed(http_server):
    land = land_with(serve_copies(http_server, pictures=3, copies=2, prefix="forced"))
    assert (run_job(land, chunk_size=10).analysed, Media.objects.of_land(land.pk).count()) == (3, 6)

    job = run_job(land, chunk_size=10, force=True)

    # Nothing copied from the database; the copies met within the job still share their analysis.
    assert (job.analysed, job.reused) == (3, 3)


def test_without_reuse_every_download_is_analysed(http_server, settings):
    settings.MEDIA_ANALYSIS_REUSE_BY_CONTENT = False
    land = land_with(serve_copies(http_server, pictures=2, copies=3, prefix="off"))
    job = run_job(land, chunk_size=10)
    assert (job.analysed, job.reused) == (6, 0)


def test_a_failure_is_shared_by_the_copies_of_the_same_bytes(http_server):
    broken = picture(1)[:60]
    urls = [http_server.route(f"/broken/{n}.png", Reply(body=broken, content_type="image/png")) for n in range(3)]
    land = land_with(urls)
    job = run_job_expecting_no_cluster(land)
    assert (job.analysed, job.reused, job.failed) == (0, 0, 3)
    assert set(Media.objects.of_land(land.pk).values_list("error_class", flat=True)) == {"corrupt_image"}


def run_job_expecting_no_cluster(land: Land) -> AnalysisJob:
    job = jobs.create_job(land, JobParameters())
    chunk_ids = jobs.plan_job(job.pk, chunk_size=10)
    outcome = jobs.run_chunk(chunk_ids[0], wait=True)
    assert outcome is not None
    assert outcome.land_to_cluster is None
    job.refresh_from_db()
    return job


def test_the_queryset_finds_only_current_successes_of_images(db):
    page = make_expression(make_land())
    sha = "a" * 64
    current = dict(image_hash=sha, analysis_version=ANALYSIS_VERSION, analysis_status=AnalysisStatus.DONE)
    good = make_media(page, **current)
    make_media(page, **{**current, "analysis_version": ANALYSIS_VERSION - 1})
    make_media(page, **{**current, "analysis_status": AnalysisStatus.FAILED})
    make_media(page, **{**current, "type": MediaType.VIDEO})
    make_media(page, **{**current, "image_hash": "b" * 64})
    found = Media.objects.analysed_with_content([sha], ANALYSIS_VERSION)
    assert list(found) == [good]
    assert list(media_batch.reusable_values([sha, "c" * 64])) == [sha]
