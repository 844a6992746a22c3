"""A forced re-analysis is scheduled for its end: full downloads early, conditional chunks not held back by them.

The plan deals a job's URLs by what they cost: those that timed out first, then those that need a full download
and an analysis mixed early into the conditional requests. A worker takes a chunk that is mostly conditional
requests as soon as the conditional requests waiting leave room, whatever downloads wait for the analyses.
"""

from __future__ import annotations

import threading

import pytest

from lands.models import Media
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.jobs import batch as media_batch
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


def test_a_forced_plan_deals_timed_out_urls_first_and_full_downloads_early_among_the_conditional_requests():
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
    # The full downloads at twice their share (3 of 10): two at once, the third by the middle.
    assert set(order[1:3]) <= set(bodies)
    assert set(bodies) <= set(order[1:6])
    rest = [pk for pk in order[1:] if pk not in bodies]
    assert set(rest) == set(conditional)
    # Within a rank the hosts still take turns.
    assert [url.split("/")[2] for url in _urls(rest)] == [*["a.example", "b.example"] * 3, "a.example"]


def _urls(pks: list[int]) -> list[str]:
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


def test_each_host_is_dealt_slowest_first_and_a_host_with_more_seconds_gets_more_of_each_chunk():
    conditional = jobs.DEAL_CONDITIONAL
    # Host "slow" has eight URLs, two of which took 5 s last time; the others four URLs of 0.5 s each.
    rows = [(n, f"http://slow.example/{n}.jpg", conditional, 5.0 if n in (6, 7) else 0.5) for n in range(8)]
    rows += [(10 * h + n, f"http://h{h}.example/{n}.jpg", conditional, 0.5) for h in (2, 3) for n in range(4)]
    rows.sort(key=lambda row: (row[1], row[0]))
    chunks = list(jobs.interleaved_chunks(rows, chunk_size=4))
    order = [pk for chunk in chunks for pk in chunk]
    assert sorted(order) == sorted(pk for pk, *_ in rows)
    slow = [pk for pk in order if pk < 10]
    assert slow[:2] == [6, 7]  # its slowest first, then the URL order
    assert slow[2:] == [0, 1, 2, 3, 4, 5]
    # Its 13 s against 2 s for each other host: it starts the job, and holds most of the first chunk's seconds.
    assert order[0] == 6
    seconds = {pk: expected for pk, _, _, expected in rows}
    assert sum(seconds[pk] for pk in chunks[0] if pk < 10) > sum(seconds[pk] for pk in chunks[0] if pk >= 10)
    # Every host is still dealt before the slow host's last URLs.
    assert max(order.index(pk) for pk in order if pk >= 10) < order.index(5)


def test_with_no_response_time_known_hosts_of_equal_size_take_turns():
    rows = [(10 * h + n, f"http://h{h}.example/{n}.jpg", jobs.DEAL_BODY, None) for h in range(3) for n in range(3)]
    rows.sort(key=lambda row: (row[1], row[0]))
    order = [pk for chunk in jobs.interleaved_chunks(rows, chunk_size=100) for pk in chunk]
    assert order == [0, 10, 20, 1, 11, 21, 2, 12, 22]


def test_response_times_are_kept_coarse():
    assert [media_batch.response_class(s) for s in (0.004, 0.3, 0.5, 1.5, 4.0, 5.2, 40.0)] == [
        0.01,
        0.5,
        0.5,
        2.0,
        5.0,
        10.0,
        50.0,
    ]


def test_the_pipeline_records_how_long_each_request_took_and_a_304_keeps_it_current(settings, http_server):
    http_server.route(
        "/etag.png", Reply(body=_png(1), content_type="image/png", headers={"ETag": '"e"'}, conditional=True)
    )
    land = make_land()
    page = make_expression(land, depth=0, relevance=1)
    media = make_media(page, url=http_server.url("/etag.png"))
    assert media_batch.analyse_media([media.pk]).analysed == 1
    media.refresh_from_db()
    assert media.response_seconds is not None
    assert 0 < media.response_seconds <= 10
    # Pretend the site was slow last time: the 304 writes the time it takes now.
    Media.objects.filter(pk=media.pk).update(response_seconds=50.0)
    assert media_batch.analyse_media([media.pk]).unchanged == 1
    media.refresh_from_db()
    assert media.response_seconds is not None
    assert media.response_seconds <= 10


def test_a_download_that_timed_out_last_time_starts_while_the_others_wait_for_the_analyses(
    settings, http_server, monkeypatch
):
    settings.MEDIA_ANALYSIS_ANALYSIS_THREADS = 1
    settings.MEDIA_ANALYSIS_REUSE_BY_CONTENT = False
    monkeypatch.setattr(pipeline_module, "_instance", None)  # this one is closed at the end
    analyses_may_go = threading.Event()
    real_analyse = media_batch.analyse_fetched

    def held_analysis(fetched, options, **kwargs):
        analyses_may_go.wait(timeout=60)
        return real_analyse(fetched, options, **kwargs)

    monkeypatch.setattr(media_batch, "analyse_fetched", held_analysis)
    backlog = pipeline_module.ANALYSIS_BACKLOG_PER_THREAD
    filling = [
        http_server.route(f"/fill-{n}.png", Reply(body=_png(n), content_type="image/png")) for n in range(backlog)
    ]
    waiting = http_server.route("/waiting.png", Reply(body=_png(50), content_type="image/png"))
    urgent = http_server.route("/timed-out.png", Reply(body=_png(51), content_type="image/png"))
    pipe = pipeline()
    done = threading.Event()
    batches = []

    def finished(outcomes) -> None:
        batches.append(outcomes)
        if len(batches) == 2:
            done.set()

    try:
        pipe.submit([(n + 1, url, "img", None) for n, url in enumerate(filling)], finished, reuse=False)
        wait_until(lambda: pipe.stats()["analysing"] == backlog, timeout=30, what="the analyses' room to fill")
        pipe.submit([(100, waiting, "img", None), (101, urgent, "img", None)], finished, reuse=False, urgent=[101])
        wait_until(lambda: http_server.hits("/timed-out.png") == 1, timeout=30, what="the urgent download")
        assert http_server.hits("/waiting.png") == 0  # it waits for the analyses
    finally:
        analyses_may_go.set()
    assert done.wait(timeout=60)
    assert http_server.hits("/waiting.png") == 1
    assert pipe.drain(timeout=30) is True
