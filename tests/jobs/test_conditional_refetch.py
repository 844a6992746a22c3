"""Re-analysis with validators: a land analysed once, then again with ``force``, against servers that send
ETag, Last-Modified or neither, and answer 304 when the validators match."""

from __future__ import annotations

import io
import threading
from dataclasses import replace

import pytest
from django.urls import reverse
from PIL import Image
from prometheus_client import REGISTRY

from lands.models import AnalysisStatus, Land, Media
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.jobs import service as jobs
from media_analysis.jobs.batch import analyse_media
from media_analysis.jobs.parameters import JobParameters
from media_analysis.jobs.selection import preview_selection
from media_analysis.jobs.service import StepOutcome
from media_analysis.models import AnalysisJob, JobChunk, JobStatus
from tests.factories import make_expression, make_land, make_media
from tests.support import av_samples as av
from tests.support.http_server import LocalHTTPServer, Reply
from tests.support.processes import wait_until

LAST_MODIFIED = "Tue, 01 Dec 2026 10:00:00 GMT"
VALUE_FIELDS = ("width", "height", "format", "image_hash", "phash", "dominant_colors", "file_size", "mime_type")


def _png(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_reply(color: tuple[int, int, int], **headers: str) -> Reply:
    return Reply(body=_png(color), content_type="image/png", headers=headers, conditional=True)


def _values(media: Media) -> dict:
    return {name: getattr(media, name) for name in ("values_at", "analysis_version", *VALUE_FIELDS)}


def _run_job(land: Land, **params) -> tuple[AnalysisJob, StepOutcome]:
    job = jobs.create_job(land, JobParameters(media_types=("img", "video"), **params))
    outcome = StepOutcome()
    for chunk_id in jobs.plan_job(job.pk, chunk_size=2):
        step = jobs.run_chunk(chunk_id)
        assert step is not None  # waited for, so completed here
        outcome = step
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    return job, outcome


def _processed(outcome: str) -> float:
    total = 0.0
    for media_type in ("img", "video"):
        labels = {"outcome": outcome, "media_type": media_type}
        total += REGISTRY.get_sample_value("media_analysis_processed_total", labels) or 0.0
    return total


@pytest.fixture
def land_served(http_server: LocalHTTPServer) -> tuple[Land, dict[str, Media]]:
    clip = av.mp4(duration=12_000, width=640, height=360, mdat_size=400_000)
    http_server.route("/etag.png", _png_reply((200, 30, 30), ETag='"red-1"'))
    http_server.route("/weak.png", _png_reply((30, 200, 30), ETag='W/"green-1"', **{"Last-Modified": LAST_MODIFIED}))
    http_server.route("/dated.png", _png_reply((30, 30, 200), **{"Last-Modified": LAST_MODIFIED}))
    http_server.route("/plain.png", _png_reply((90, 90, 90)))
    http_server.route(
        "/clip.mp4",
        Reply(body=clip, content_type="video/mp4", honour_range=True, conditional=True, headers={"ETag": '"clip-1"'}),
    )
    land = make_land()
    page = make_expression(land, depth=0, relevance=1)
    media = {
        name: make_media(page, url=http_server.url(f"/{name}"), type="video" if name.endswith(".mp4") else "img")
        for name in ("etag.png", "weak.png", "dated.png", "plain.png", "clip.mp4")
    }
    return land, media


def _sent(http_server: LocalHTTPServer, name: str) -> list[tuple[str | None, str | None]]:
    requests = http_server.requests_for(name)
    return [(r.headers.get("if-none-match"), r.headers.get("if-modified-since")) for r in requests]


@pytest.mark.django_db(transaction=True)
def test_a_forced_reanalysis_of_an_unchanged_land_is_answered_304_and_keeps_the_values(http_server, land_served):
    land, media = land_served
    first, _ = _run_job(land)
    assert (first.analysed, first.unchanged, first.failed) == (5, 0, 0)
    stored = {name: Media.objects.get(pk=m.pk) for name, m in media.items()}
    assert (stored["etag.png"].http_etag, stored["etag.png"].http_last_modified) == ('"red-1"', None)
    assert (stored["weak.png"].http_etag, stored["weak.png"].http_last_modified) == ('W/"green-1"', LAST_MODIFIED)
    assert (stored["dated.png"].http_etag, stored["dated.png"].http_last_modified) == (None, LAST_MODIFIED)
    assert (stored["plain.png"].http_etag, stored["plain.png"].http_last_modified) == (None, None)
    assert stored["clip.mp4"].http_etag == '"clip-1"'
    assert all(m.checked_at is None for m in stored.values())
    unchanged_before = _processed("unchanged")

    second, outcome = _run_job(land, force=True)

    # The four that sent validators are unchanged; the one without is analysed in full.
    assert (second.total, second.analysed, second.unchanged, second.failed, second.skipped) == (5, 1, 4, 0, 0)
    assert second.processed == 5
    assert (second.progress, second.success_rate) == (100.0, 100.0)
    assert sum(JobChunk.objects.filter(job=second).values_list("unchanged", flat=True)) == 4
    assert _processed("unchanged") - unchanged_before == 4
    assert outcome.land_to_cluster == land.pk  # plain.png was analysed again
    assert _sent(http_server, "/etag.png") == [(None, None), ('"red-1"', None)]
    assert _sent(http_server, "/weak.png") == [(None, None), ('W/"green-1"', LAST_MODIFIED)]
    assert _sent(http_server, "/dated.png") == [(None, None), (None, LAST_MODIFIED)]
    assert _sent(http_server, "/plain.png") == [(None, None), (None, None)]
    assert _sent(http_server, "/clip.mp4") == [(None, None), ('"clip-1"', None)]
    for name, before in stored.items():
        after = Media.objects.get(pk=before.pk)
        assert after.analysis_status == AnalysisStatus.DONE
        assert after.attempts == 2
        assert after.analyzed_at > before.analyzed_at
        assert (after.analysis_error, after.error_class) == (None, None)
        if name == "plain.png":
            assert after.values_at == after.analyzed_at
            assert after.checked_at is None
        else:
            assert _values(after) == _values(before), name
            assert after.checked_at == after.analyzed_at
            assert (after.http_etag, after.http_last_modified) == (before.http_etag, before.http_last_modified)


@pytest.mark.django_db(transaction=True)
def test_a_job_where_everything_is_unchanged_needs_no_clustering(http_server):
    land = make_land()
    page = make_expression(land, depth=0, relevance=1)
    for index in range(3):
        http_server.route(f"/{index}.png", _png_reply((index * 40, 10, 10), ETag=f'"v{index}"'))
        make_media(page, url=http_server.url(f"/{index}.png"))
    first, outcome = _run_job(land)
    assert (first.analysed, outcome.land_to_cluster) == (3, land.pk)

    second, outcome = _run_job(land, force=True)

    assert (second.analysed, second.unchanged) == (0, 3)
    assert outcome.job_completed
    assert outcome.land_to_cluster is None


@pytest.fixture
def one_image(db, http_server):
    page = make_expression(make_land(), depth=0, relevance=1)
    return make_media(page, url=http_server.url("/a.png"))


def test_a_changed_file_is_analysed_again_with_its_new_validators(http_server, one_image):
    http_server.route("/a.png", _png_reply((200, 0, 0), ETag='"v1"'), _png_reply((0, 0, 200), ETag='"v2"'))
    analyse_media([one_image.pk])
    before = Media.objects.get(pk=one_image.pk)

    result = analyse_media([one_image.pk])

    assert (result.analysed, result.unchanged) == (1, 0)
    after = Media.objects.get(pk=one_image.pk)
    assert http_server.requests_for("/a.png")[1].headers["if-none-match"] == '"v1"'
    assert after.http_etag == '"v2"'
    assert after.image_hash != before.image_hash
    assert after.dominant_colors[0]["hex"] == "#0000c8"
    assert after.values_at == after.analyzed_at > before.values_at
    assert after.checked_at is None


def test_a_304_after_an_earlier_check_moves_checked_at_and_a_new_analysis_clears_it(http_server, one_image):
    http_server.route(
        "/a.png",
        _png_reply((200, 0, 0), ETag='"v1"'),
        Reply(304, content_type=None, headers={"ETag": '"v1b"', "Last-Modified": LAST_MODIFIED}),
        Reply(body=_png((0, 200, 0)), content_type="image/png"),  # no validators at all any more
    )
    analyse_media([one_image.pk])
    analyse_media([one_image.pk])
    checked = Media.objects.get(pk=one_image.pk)
    # The 304's own validators replace those it carries.
    assert (checked.http_etag, checked.http_last_modified) == ('"v1b"', LAST_MODIFIED)
    assert checked.checked_at == checked.analyzed_at

    analyse_media([one_image.pk])

    renewed = Media.objects.get(pk=one_image.pk)
    assert http_server.requests_for("/a.png")[2].headers["if-none-match"] == '"v1b"'
    assert (renewed.http_etag, renewed.http_last_modified, renewed.checked_at) == (None, None, None)
    assert renewed.values_at == renewed.analyzed_at


def test_values_of_an_older_analysis_version_are_recomputed_without_validators(http_server, one_image):
    http_server.route("/a.png", _png_reply((200, 0, 0), ETag='"v1"'))
    analyse_media([one_image.pk])
    Media.objects.filter(pk=one_image.pk).update(analysis_version=ANALYSIS_VERSION - 1)

    result = analyse_media([one_image.pk])

    assert (result.analysed, result.unchanged) == (1, 0)
    assert "if-none-match" not in http_server.requests_for("/a.png")[1].headers
    after = Media.objects.get(pk=one_image.pk)
    assert (after.analysis_version, after.http_etag) == (ANALYSIS_VERSION, '"v1"')


def test_a_failed_attempt_that_kept_values_becomes_done_on_a_304(http_server, one_image):
    http_server.route(
        "/a.png",
        _png_reply((200, 0, 0), ETag='"v1"'),
        Reply(status=404, body=b"gone for now", content_type="text/plain"),
        _png_reply((200, 0, 0), ETag='"v1"'),
    )
    analyse_media([one_image.pk])
    good = Media.objects.get(pk=one_image.pk)
    analyse_media([one_image.pk])
    failed = Media.objects.get(pk=one_image.pk)
    assert (failed.analysis_status, failed.error_class) == (AnalysisStatus.FAILED, "http_status")
    assert failed.has_earlier_values
    assert failed.http_etag == '"v1"'  # a failure leaves the validators of the kept values

    result = analyse_media([one_image.pk])

    assert (result.unchanged, result.failed) == (1, 0)
    after = Media.objects.get(pk=one_image.pk)
    assert [r.headers.get("if-none-match") for r in http_server.requests_for("/a.png")] == [None, '"v1"', '"v1"']
    assert (after.analysis_status, after.analysis_error, after.error_class) == (AnalysisStatus.DONE, None, None)
    assert after.values_are_current
    assert _values(after) == _values(good)
    assert after.checked_at == after.analyzed_at
    assert after.attempts == 3
    checked = after.checked_at.strftime("%Y-%m-%d %H:%M UTC")
    assert after.values_note.endswith(f"(analysis, version {ANALYSIS_VERSION}), unchanged at {checked}")


def test_imported_or_validator_less_values_are_fetched_unconditionally(http_server, one_image):
    http_server.route("/a.png", _png_reply((200, 0, 0), ETag='"v1"'))
    Media.objects.filter(pk=one_image.pk).update(analysis_version=ANALYSIS_VERSION, http_etag="", http_last_modified="")
    analyse_media([one_image.pk])
    assert "if-none-match" not in http_server.requests_for("/a.png")[0].headers


def test_conditional_requests_can_be_turned_off(http_server, one_image, settings):
    http_server.route("/a.png", _png_reply((200, 0, 0), ETag='"v1"'))
    analyse_media([one_image.pk])
    settings.MEDIA_ANALYSIS_CONDITIONAL_REQUESTS = False

    result = analyse_media([one_image.pk])

    assert (result.analysed, result.unchanged) == (1, 0)
    assert "if-none-match" not in http_server.requests_for("/a.png")[1].headers


def test_admin_api_and_live_page_show_the_unchanged_counter(admin_client, staff_api_client, db):
    job = AnalysisJob.objects.create(
        land=make_land(), status=JobStatus.COMPLETED, total=10, analysed=3, unchanged=6, failed=1
    )
    detail = staff_api_client.get(f"/api/jobs/{job.pk}/").json()
    assert (detail["unchanged"], detail["processed"], detail["success_rate"]) == (6, 10, 90.0)
    change_page = admin_client.get(reverse("admin:media_analysis_analysisjob_change", args=[job.pk])).content.decode()
    assert "Unchanged" in change_page
    listing = admin_client.get(reverse("admin:media_analysis_analysisjob_changelist")).content.decode()
    assert "column-unchanged" in listing
    live = admin_client.get(reverse("medianalyse:job-progress", args=[job.pk])).content.decode()
    assert '<dd data-field="unchanged">6</dd>' in live
    assert '<span data-field="unchanged">6</span> unchanged' in live


def test_the_start_form_says_a_forced_job_re_checks_first(db, settings):
    land = make_land()
    make_media(make_expression(land, depth=0, relevance=1))
    reasons = preview_selection(land, JobParameters(force=True)).reasons()
    assert reasons[0] == "Force: all 1 media in scope are analysed again."
    assert "counted as unchanged" in reasons[1]
    settings.MEDIA_ANALYSIS_CONDITIONAL_REQUESTS = False
    assert len(preview_selection(land, JobParameters(force=True)).reasons()) == 1


@pytest.mark.django_db(transaction=True)
def test_conditional_requests_are_not_held_back_by_the_download_concurrency(http_server, settings):
    settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY = 1
    settings.MEDIA_ANALYSIS_REVALIDATION_CONCURRENCY = 4
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 8
    names = [f"/r{n}.png" for n in range(4)]
    for n, name in enumerate(names):
        http_server.route(name, _png_reply((40 * n, 10, 10), ETag=f'"r{n}"'))
    land = make_land()
    page = make_expression(land, depth=0, relevance=1)
    for name in names:
        make_media(page, url=http_server.url(name))
    first, _ = _run_job(land)
    assert first.analysed == 4
    # The re-analysis's answers wait until all four conditional requests are in: with one download
    # at a time, as the download concurrency alone would allow, only one would ever arrive.
    answer = threading.Event()
    for n, name in enumerate(names):
        http_server.route(name, replace(_png_reply((40 * n, 10, 10), ETag=f'"r{n}"'), hold=answer))
    job = jobs.create_job(land, JobParameters(force=True))
    (chunk_id,) = jobs.plan_job(job.pk, chunk_size=10)
    result: list[StepOutcome | None] = []
    runner = threading.Thread(target=lambda: result.append(jobs.run_chunk(chunk_id)))
    runner.start()
    try:
        wait_until(lambda: http_server.hits() == 8, timeout=30, what="four conditional requests at once")
    finally:
        answer.set()
        runner.join(60)
    job.refresh_from_db()
    assert (job.status, job.unchanged, job.analysed) == (JobStatus.COMPLETED, 4, 0)
