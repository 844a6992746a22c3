"""The "Analyse media" admin actions, called as the admin calls them."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.urls import reverse

from lands.models import AnalysisStatus, Land, Media
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.models import AnalysisJob
from media_analysis.web.admin.actions import analyse_land_media_action, analyse_selected_media_action
from tests.factories import make_expression, make_land, make_media

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_request(rf):
    def build(user):
        request = rf.post("/admin/lands/land/")
        request.user = user
        request.session = SessionStore()
        request._messages = FallbackStorage(request)
        return request

    return build


def texts(request) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(request)]


def land_admin() -> admin.ModelAdmin:
    return admin.ModelAdmin(Land, admin.site)


def media_admin() -> admin.ModelAdmin:
    return admin.ModelAdmin(Media, admin.site)


def progress(job_id: int) -> str:
    return reverse("medianalyse:job-progress", args=[job_id])


def test_actions_carry_their_labels():
    assert analyse_land_media_action.short_description == "Analyse media"
    assert analyse_selected_media_action.short_description == "Analyse selected media"


def test_one_land_starts_a_job_and_redirects_to_it(make_request, runner, land):
    request = make_request(runner)
    response = analyse_land_media_action(land_admin(), request, Land.objects.filter(pk=land.pk))
    job = AnalysisJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == progress(job.pk)
    assert (job.land, job.requested_by, job.media_types, job.force) == (land, runner, ["img"], False)
    ((level, text),) = texts(request)
    assert level == "success"
    assert f"job {job.pk}" in text


def test_several_lands_start_one_job_each_and_warn_about_a_busy_one(make_request, admin_user, land):
    busy = make_land("Busy")
    make_media(make_expression(busy))
    running = jobs.create_job(busy, JobParameters())
    third = make_land("Third")
    request = make_request(admin_user)
    response = analyse_land_media_action(
        land_admin(), request, Land.objects.filter(pk__in=[land.pk, busy.pk, third.pk])
    )
    assert response is None  # back to the list, where the messages are
    started = AnalysisJob.objects.exclude(pk=running.pk)
    assert sorted(job.land_id for job in started) == sorted([land.pk, third.pk])
    assert AnalysisJob.objects.filter(land=busy).count() == 1
    messages = texts(request)
    warning = next(text for level, text in messages if level == "warning")
    assert "Busy already has an active analysis" in warning
    assert f'href="{progress(running.pk)}"' in warning
    success = next(text for level, text in messages if level == "success")
    assert all(f'href="{progress(job.pk)}"' in success for job in started)


def test_a_single_busy_land_redirects_to_its_running_job(make_request, admin_user, land):
    running = jobs.create_job(land, JobParameters())
    request = make_request(admin_user)
    response = analyse_land_media_action(land_admin(), request, Land.objects.filter(pk=land.pk))
    assert response["Location"] == progress(running.pk)
    assert AnalysisJob.objects.count() == 1
    assert [level for level, _ in texts(request)] == ["warning"]


def test_staff_without_the_permission_cannot_run_the_actions(make_request, viewer, land):
    request = make_request(viewer)
    assert analyse_land_media_action(land_admin(), request, Land.objects.all()) is None
    assert analyse_selected_media_action(media_admin(), request, Media.objects.of_land(land.pk)) is None
    assert AnalysisJob.objects.count() == 0
    assert [level for level, _ in texts(request)] == ["error", "error"]


@pytest.mark.parametrize("who", ["viewer", "runner", "admin_user"])
def test_the_actions_are_offered_only_to_users_who_may_run_them(rf, request, who):
    user = request.getfixturevalue(who)
    expected = {"viewer": False, "runner": True, "admin_user": True}[who]
    for model, name in ((Land, "analyse_land_media_action"), (Media, "analyse_selected_media_action")):
        page = rf.get("/admin/")
        page.user = user
        offered = admin.site.get_model_admin(model).get_actions(page)
        assert (name in offered) is expected


def test_selected_media_make_a_job_with_exactly_those_ids(make_request, runner, land):
    chosen = list(Media.objects.of_land(land.pk).filter(analysis_status=AnalysisStatus.DONE)[:2])
    request = make_request(runner)
    response = analyse_selected_media_action(
        media_admin(), request, Media.objects.filter(pk__in=[m.pk for m in chosen])
    )
    job = AnalysisJob.objects.get()
    assert response["Location"] == progress(job.pk)
    assert job.media_ids == sorted(m.pk for m in chosen)
    assert job.force
    assert job.media_types == ["img"]
    # The plan takes the selection as it is, analysed media included.
    jobs.plan_job(job.pk, chunk_size=10)
    job.refresh_from_db()
    assert job.total == 2


def test_selected_media_of_two_lands_are_refused(make_request, runner, land):
    other = make_media(make_expression(make_land("Other")))
    request = make_request(runner)
    mixed = Media.objects.filter(pk__in=[other.pk, Media.objects.of_land(land.pk).first().pk])
    assert analyse_selected_media_action(media_admin(), request, mixed) is None
    assert AnalysisJob.objects.count() == 0
    ((level, text),) = texts(request)
    assert level == "error"
    assert "spans 2 lands" in text


def test_selected_media_of_a_busy_land_lead_to_the_running_job(make_request, runner, land):
    running = jobs.create_job(land, JobParameters())
    request = make_request(runner)
    response = analyse_selected_media_action(media_admin(), request, Media.objects.of_land(land.pk))
    assert response["Location"] == progress(running.pk)
    assert AnalysisJob.objects.count() == 1


def test_the_land_list_offers_the_action(admin_client, land):
    response = admin_client.post(
        reverse("admin:lands_land_changelist"),
        {"action": "analyse_land_media_action", "_selected_action": [land.pk]},
    )
    job = AnalysisJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == progress(job.pk)


def test_the_media_list_offers_the_action(admin_client, land):
    chosen = list(Media.objects.of_land(land.pk).values_list("pk", flat=True)[:3])
    response = admin_client.post(
        reverse("admin:lands_media_changelist"),
        {"action": "analyse_selected_media_action", "_selected_action": chosen},
    )
    job = AnalysisJob.objects.get()
    assert response["Location"] == progress(job.pk)
    assert job.media_ids == sorted(chosen)
