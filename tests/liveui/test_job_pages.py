"""The job pages after a cancel: figures that keep moving while running chunks end, "not processed" apart from
"skipped", the cancel's confirmation page, the link to all the job's failures; the admin's chrome around them."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from django.utils import timezone

from lands.models import AnalysisStatus
from media_analysis.jobs import service as jobs
from media_analysis.jobs.batch import BatchResult
from media_analysis.jobs.parameters import JobParameters
from media_analysis.jobs.progress import job_snapshot
from media_analysis.models import AnalysisJob, JobChunk, JobStatus
from tests.factories import make_expression, make_land, make_media
from tests.jobs.test_progress_consumer import _connect, _cookie_for


def _cancelled_with_one_chunk_running(land) -> tuple[AnalysisJob, JobChunk]:
    """Five media in three chunks: the first claimed by a live worker when the job is cancelled."""
    job = jobs.create_job(land, JobParameters())
    jobs.plan_job(job.pk, chunk_size=2)
    first = JobChunk.objects.filter(job=job).order_by("index").first()
    assert first is not None
    JobChunk.objects.filter(pk=first.pk).update(claimed_by="worker:1", claimed_at=timezone.now())
    job.refresh_from_db()
    return jobs.cancel_job(job), first


@pytest.fixture
def five_media(db):
    land = make_land("Rivers")
    page = make_expression(land)
    for _ in range(5):
        make_media(page)
    return land


def test_a_cancelled_job_settles_when_its_running_chunk_ends(five_media):
    job, running = _cancelled_with_one_chunk_running(five_media)
    snapshot = job_snapshot(job)
    assert snapshot["status"] == JobStatus.CANCELLED
    assert (snapshot["running_chunks"], snapshot["settled"], snapshot["not_processed"]) == (1, False, 5)

    jobs.complete_chunk(running.pk, BatchResult(analysed=1, skipped=1))
    job.refresh_from_db()
    snapshot = job_snapshot(job)
    # The chunk's counts reached the cancelled job; the other chunks never started.
    assert (snapshot["analysed"], snapshot["skipped"], snapshot["not_processed"]) == (1, 1, 3)
    assert (snapshot["running_chunks"], snapshot["settled"]) == (0, True)


def test_a_claim_older_than_the_lease_does_not_hold_the_page(five_media, settings):
    job, running = _cancelled_with_one_chunk_running(five_media)
    settings.MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS = 60
    JobChunk.objects.filter(pk=running.pk).update(claimed_at=timezone.now() - timezone.timedelta(minutes=5))
    assert job_snapshot(job)["settled"] is True


def test_the_api_says_whether_a_job_settled(five_media, staff_api_client):
    job, running = _cancelled_with_one_chunk_running(five_media)
    body = staff_api_client.get(f"/api/jobs/{job.pk}/").json()
    assert (body["settled"], body["running_chunks"], body["not_processed"]) == (False, 1, 5)
    jobs.complete_chunk(running.pk, BatchResult(analysed=2))
    body = staff_api_client.get(f"/api/jobs/{job.pk}/").json()
    assert (body["settled"], body["running_chunks"], body["not_processed"]) == (True, 0, 3)


def test_the_progress_page_of_a_cancelled_job_still_running(five_media, admin_client):
    job, _ = _cancelled_with_one_chunk_running(five_media)
    html = admin_client.get(reverse("medianalyse:job-progress", args=[job.pk])).content.decode()
    assert 'id="ma-settling" class="ma-settling" role="status">' in html
    assert "live updates need JavaScript" in html
    assert 'data-field="not_processed">5<' in html
    assert "not processed (their chunk never started" in html


def test_cancel_asks_for_confirmation_first(five_media, client_for, runner):
    job = jobs.create_job(five_media, JobParameters())
    client = client_for(runner)
    progress = client.get(reverse("medianalyse:job-progress", args=[job.pk])).content.decode()
    cancel = reverse("medianalyse:job-cancel", args=[job.pk])
    assert f'href="{cancel}"' in progress
    assert 'method="post" action="' + cancel not in progress

    confirm = client.get(cancel)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert 'id="ma-cancel-confirm-button"' in page
    assert "chunks already running finish" in page
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING

    assert client.post(cancel).status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert "already ended" in client.get(cancel).content.decode()


def test_the_cancel_page_needs_the_run_permission(five_media, client_for, viewer):
    job = jobs.create_job(five_media, JobParameters())
    assert client_for(viewer).get(reverse("medianalyse:job-cancel", args=[job.pk])).status_code == 403


def test_all_failures_of_a_job_link_to_the_filtered_media_list(db, admin_client):
    land = make_land("Failures")
    page = make_expression(land)
    job = jobs.create_job(land, JobParameters())
    AnalysisJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - timezone.timedelta(minutes=1))
    failed_now = make_media(page, analysis_status=AnalysisStatus.FAILED, analyzed_at=timezone.now())
    make_media(page, analysis_status=AnalysisStatus.FAILED, analyzed_at=timezone.now() - timezone.timedelta(days=1))
    make_media(page, analysis_status=AnalysisStatus.DONE, analyzed_at=timezone.now())
    other = make_expression(make_land("Elsewhere"))
    make_media(other, analysis_status=AnalysisStatus.FAILED, analyzed_at=timezone.now())

    response = admin_client.get(reverse("medianalyse:job-progress", args=[job.pk]))
    url = response.context["failures_url"]
    assert 'id="ma-all-failures"' in response.content.decode()
    assert parse_qs(urlsplit(url).query)["analysis_status__exact"] == ["failed"]
    listed = admin_client.get(url)
    assert listed.status_code == 200
    assert [media.pk for media in listed.context["cl"].result_list] == [failed_now.pk]


def test_job_and_land_pages_have_lands_in_their_breadcrumbs(five_media, admin_client):
    job = jobs.create_job(five_media, JobParameters())
    lands = reverse("admin:lands_land_changelist")
    for url in (
        reverse("medianalyse:job-progress", args=[job.pk]),
        reverse("medianalyse:job-cancel", args=[job.pk]),
        reverse("medianalyse:land-analysis", args=[five_media.pk]),
    ):
        html = admin_client.get(url).content.decode()
        assert f'<a href="{lands}">Lands</a>' in html, url


@pytest.mark.django_db(transaction=True)
async def test_the_socket_follows_a_cancelled_job_until_its_running_chunk_ends(admin_user):
    land = await sync_to_async(make_land)("Socket")

    def build():
        page = make_expression(land)
        for _ in range(5):
            make_media(page)
        return _cancelled_with_one_chunk_running(land)

    job, running = await sync_to_async(build)()
    cookie = await sync_to_async(_cookie_for)(admin_user)
    communicator, connected, _ = await _connect(job.pk, cookie)
    assert connected
    first = await communicator.receive_json_from(timeout=3)
    # Ended but not settled: a snapshot, not "finished", and the socket stays open.
    assert (first["type"], first["job"]["status"], first["job"]["settled"]) == ("snapshot", "cancelled", False)

    await sync_to_async(jobs.complete_chunk)(running.pk, BatchResult(analysed=2))
    final = await communicator.receive_json_from(timeout=5)
    while final["type"] != "finished":
        final = await communicator.receive_json_from(timeout=5)
    assert (final["job"]["analysed"], final["job"]["not_processed"], final["job"]["settled"]) == (2, 3, True)
    await communicator.disconnect()
