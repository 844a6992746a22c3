"""A host's conditional requests are not held up behind a download that has no room to start, nor the reverse."""

from __future__ import annotations

import threading

import pytest

from lands.models import Media
from media_analysis.jobs import service as jobs
from media_analysis.jobs.batch import analyse_media
from media_analysis.jobs.parameters import JobParameters
from media_analysis.models import JobStatus
from tests.factories import make_expression, make_land, make_media
from tests.jobs.test_download_pipeline import Completions, _png, _run_async
from tests.support.http_server import Reply
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_conditional_requests_pass_a_download_waiting_for_room_on_the_same_host(settings, http_server):
    settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY = 1  # one download at a time; conditional requests apart
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 4
    settings.MEDIA_ANALYSIS_BODY_START_TIMEOUT = 0
    held = threading.Event()
    http_server.route("/a-held.png", Reply(body=_png(1), content_type="image/png", hold=held))
    http_server.route("/b-plain.png", Reply(body=_png(2), content_type="image/png"))
    for name, seed in (("c-etag", 3), ("d-etag", 4)):
        http_server.route(
            f"/{name}.png",
            Reply(body=_png(seed), content_type="image/png", headers={"ETag": f'"{name}"'}, conditional=True),
        )
    land = make_land()
    page = make_expression(land, depth=0, relevance=1)
    media = {name: make_media(page, url=http_server.url(f"/{name}.png")) for name in ("a-held", "b-plain")}
    for name in ("c-etag", "d-etag"):
        media[name] = make_media(page, url=http_server.url(f"/{name}.png"))
    # Analysed once: c and d hold values and their validators, so the forced job asks them conditionally.
    analysed = analyse_media([media["c-etag"].pk, media["d-etag"].pk])
    assert analysed.analysed == 2
    assert all(Media.objects.get(pk=media[n].pk).http_etag for n in ("c-etag", "d-etag"))

    job = jobs.create_job(land, JobParameters(force=True))
    chunk_ids = jobs.plan_job(job.pk, chunk_size=4)  # one chunk, in URL order: a, b, then c and d
    completions = Completions()
    try:
        _run_async(chunk_ids, completions)
        # a holds the only download slot and b waits for it; c and d, behind b on the same host, go on.

        def revalidated() -> bool:
            return http_server.hits("/c-etag.png") == http_server.hits("/d-etag.png") == 2

        wait_until(revalidated, timeout=30, what="the conditional requests to pass the waiting download")
        assert http_server.hits("/b-plain.png") == 0
    finally:
        held.set()
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.analysed, job.unchanged, job.failed) == (JobStatus.COMPLETED, 2, 2, 0)
