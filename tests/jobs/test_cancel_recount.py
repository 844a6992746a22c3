"""A job cancelled from a page or the API: the land's recount goes to a worker, not into the request."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lands.aggregates import refresh_land_aggregates
from lands.models import LandAggregates
from media_analysis import tasks
from media_analysis.models import AnalysisJob, JobStatus
from tests.factories import make_expression, make_land, make_media


@pytest.fixture
def immediate_huey():
    """Tasks enqueued inside the block run at once, as a consumer would run them."""
    before = tasks.HUEY.immediate
    tasks.HUEY.immediate = True
    try:
        yield
    finally:
        tasks.HUEY.immediate = before


def _cancel_by_api(client, admin_client, job_id):
    response = client.post(f"/api/jobs/{job_id}/cancel/")
    assert response.status_code == 200
    return response


def _cancel_by_page(client, admin_client, job_id):
    response = admin_client.post(reverse("medianalyse:job-cancel", args=[job_id]))
    assert response.status_code == 302
    return response


@pytest.mark.parametrize("cancel", [_cancel_by_api, _cancel_by_page])
def test_a_cancel_enqueues_the_recount_after_its_commit(
    staff_api_client, admin_client, django_capture_on_commit_callbacks, immediate_huey, cancel
):
    land = make_land()
    page = make_expression(land, depth=0)
    make_media(page)
    refresh_land_aggregates(land.pk)
    response = staff_api_client.post(f"/api/lands/{land.pk}/medianalyse/", {}, format="json")
    job_id = response.json()["id"]
    make_media(page, "https://cdn.example/added-since.png")  # the land changed since its last recount

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        cancel(staff_api_client, admin_client, job_id)
    assert AnalysisJob.objects.get(pk=job_id).status == JobStatus.CANCELLED
    # Nothing recounted while the request ran.
    assert LandAggregates.objects.get(land_id=land.pk).media_count == 1

    for callback in callbacks:
        callback()
    assert LandAggregates.objects.get(land_id=land.pk).media_count == 2


def test_cancelling_an_ended_job_enqueues_nothing(staff_api_client, django_capture_on_commit_callbacks):
    land = make_land()
    make_media(make_expression(land, depth=0))
    job_id = staff_api_client.post(f"/api/lands/{land.pk}/medianalyse/", {}, format="json").json()["id"]
    AnalysisJob.objects.filter(pk=job_id).update(status=JobStatus.COMPLETED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert tasks.cancel_job(AnalysisJob.objects.get(pk=job_id)).status == JobStatus.COMPLETED
    assert callbacks == []
