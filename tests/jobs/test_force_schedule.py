"""A forced re-analysis is scheduled for its end: full downloads first, conditional chunks not held back by them.

The plan deals a job's URLs by what they cost: those that timed out, then those that need a full download and
an analysis, then the conditional requests. A worker takes a chunk that is mostly conditional requests as soon
as the conditional requests waiting leave room, whatever downloads wait for the analyses.
"""

from __future__ import annotations

import threading

import pytest

from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.jobs import pipeline as pipeline_module
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.jobs.pipeline import pipeline
from media_analysis.models import JobChunk
from tests.factories import make_expression, make_land, make_media, make_text
from tests.jobs.test_download_pipeline import _png
from tests.support.http_server import Reply
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _held_values(**fields) -> dict:
    """The fields of a media analysed by the current analysis, as a re-analysis finds them."""
    return {"analysis_status": "done", "is_processed": True, "analysis_version": ANALYSIS_VERSION, **fields}


def _planned_order(land, **params) -> list[int]:
    job = jobs.create_job(land, JobParameters(force=True, **params))
    chunk_ids = jobs.plan_job(job.pk, chunk_size=3)
    chunks = JobChunk.objects.filter(pk__in=chunk_ids).order_by("index")
    return [pk for chunk in chunks for pk in chunk.media_ids]


def test_a_forced_plan_deals_timed_out_urls_then_full_downloads_then_conditional_requests():
    land = make_land()
    page = make_expression(land, depth=0, relevance=1)
    conditional = []
    for host in ("a", "b"):
        for n in range(3):
            conditional.append(
                make_media(page, url=f"https://{host}.example/{n}-etag.jpg", **_held_values(http_etag=f'"{n}"')).pk
            )
    dated = make_media(page, url="https://a.example/9-dated.jpg", **_held_values(http_last_modified="Mon")).pk
    conditional.append(dated)
    bodies = [
        make_media(page, url="https://b.example/5-new.jpg").pk,  # never analysed
        make_media(page, url="https://a.example/6-no-validators.jpg", **_held_values()).pk,
        # Values of an older analysis are computed again from the bytes, whatever the server says.
        make_media(page, url="https://b.example/7-old.jpg", **_held_values(analysis_version=0, http_etag='"old"')).pk,
    ]
    timed_out = make_media(
        page, url="https://b.example/8-stalled.jpg", analysis_status="failed", error_class="timeout"
    ).pk

    order = _planned_order(land)

    assert order[0] == timed_out
    assert set(order[1:4]) == set(bodies)
    assert set(order[4:]) == set(conditional)
    # Within a rank the hosts still take turns.
    assert [url.split("/")[2] for url in _urls(order[4:])] == [*["a.example", "b.example"] * 3, "a.example"]


def _urls(pks: list[int]) -> list[str]:
    from lands.models import Media

    urls = dict(Media.objects.filter(pk__in=pks).values_list("pk", "url"))
    return [urls[pk] for pk in pks]


def test_with_ocr_a_picture_whose_text_was_never_read_is_dealt_as_a_full_download(settings):
    land = make_land()
    page = make_expression(land, depth=0, relevance=1)
    read = make_media(page, url="https://a.example/1-read.jpg", **_held_values(http_etag='"1"'))
    make_text(read, "hello")
    unread = make_media(page, url="https://a.example/2-unread.jpg", **_held_values(http_etag='"2"'))

    assert _planned_order(land, ocr=True) == [unread.pk, read.pk]


def test_without_conditional_requests_nothing_is_dealt_as_one(settings):
    settings.MEDIA_ANALYSIS_CONDITIONAL_REQUESTS = False
    land = make_land()
    page = make_expression(land, depth=0, relevance=1)
    held = make_media(page, url="https://a.example/1-etag.jpg", **_held_values(http_etag='"1"'))
    new = make_media(page, url="https://a.example/2-new.jpg")
    # Both are full downloads: the URL order stands.
    assert _planned_order(land) == [held.pk, new.pk]


def test_a_mostly_conditional_chunk_is_taken_while_downloads_wait_to_start(settings, http_server, monkeypatch):
    settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY = 1
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 1
    monkeypatch.setattr(pipeline_module, "_instance", None)  # this one is closed at the end
    hold = threading.Event()
    urls = [
        http_server.route(f"/plain-{n}.png", Reply(body=_png(n), content_type="image/png", hold=hold)) for n in range(3)
    ]
    pipe = pipeline()
    done = threading.Event()
    try:
        pipe.submit([(n + 1, url, "img", None) for n, url in enumerate(urls)], lambda outcomes: done.set(), reuse=False)
        wait_until(lambda: pipe.stats()["backlog"] == 2, timeout=30, what="one download in flight, two queued")
        # Two downloads wait to start, none of them conditional: a chunk of downloads has no room under a limit
        # of one, a chunk of conditional requests has.
        assert pipe.wait_for_room(1, 0, timeout=0) is False
        assert pipe.wait_for_room(1, 0, timeout=0, mostly_conditional=True) is True
        assert pipe.wait_for_room(2, 0, timeout=0) is True
    finally:
        hold.set()
    assert done.wait(timeout=60)
    assert pipe.drain(timeout=30) is True
