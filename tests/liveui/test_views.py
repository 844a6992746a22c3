"""The admin pages: who may see and do what, the start form, cancel, progress and land pages."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from lands.aggregates import refresh_land_aggregates
from lands.models import Media
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.models import AnalysisJob, JobStatus
from media_analysis.web.admin.pages import format_rate, format_seconds

pytestmark = pytest.mark.django_db


def land_url(land) -> str:
    return reverse("medianalyse:land-analysis", args=[land.pk])


def progress_url(job) -> str:
    return reverse("medianalyse:job-progress", args=[job.pk])


def cancel_url(job) -> str:
    return reverse("medianalyse:job-cancel", args=[job.pk])


def gallery_url(land) -> str:
    return reverse("medianalyse:land-gallery", args=[land.pk])


def pending_job(land, **params) -> AnalysisJob:
    return jobs.create_job(land, JobParameters(**params))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_urls_live_under_the_admin(land):
    assert land_url(land) == f"/admin/medianalyse/lands/{land.pk}/"
    assert gallery_url(land) == f"/admin/medianalyse/lands/{land.pk}/gallery/"


def test_anonymous_users_are_sent_to_the_login_page(client, land):
    job = pending_job(land)
    for url in (land_url(land), gallery_url(land), progress_url(job)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")
    response = client.post(land_url(land), {"media_types": ["img"]})
    assert response.status_code == 302
    assert client.post(cancel_url(job)).status_code == 302
    assert AnalysisJob.objects.count() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING


def test_users_without_staff_status_are_sent_to_the_login_page(client_for, plain_user, land):
    client = client_for(plain_user)
    response = client.get(land_url(land))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_without_the_run_analysis_permission_can_view_but_not_start_or_cancel(client_for, viewer, land):
    # The rule is the same everywhere: the run_analysis permission starts and cancels, staff status does not.
    client = client_for(viewer)
    job = pending_job(land)
    page = client.get(land_url(land))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="ma-start-form"' not in html
    assert "Can start and cancel media analysis jobs" in html
    progress = client.get(progress_url(job))
    assert progress.status_code == 200
    assert 'id="ma-cancel"' not in progress.content.decode()
    assert client.get(gallery_url(land)).status_code == 200

    assert client.post(land_url(land), {"media_types": ["img"]}).status_code == 403
    assert client.post(cancel_url(job)).status_code == 403
    assert AnalysisJob.objects.count() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING


@pytest.mark.parametrize("who", ["runner", "admin_user"])
def test_permitted_users_start_a_job_and_land_on_its_progress_page(request, client_for, land, who):
    user = request.getfixturevalue(who)
    client = client_for(user)
    assert 'id="ma-start-form"' in client.get(land_url(land)).content.decode()
    response = client.post(
        land_url(land),
        {"depth": "1", "minrel": "2", "media_types": ["img", "video"], "force": "on", "retry_failed": "on"},
    )
    job = AnalysisJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == progress_url(job)
    assert (job.depth, job.minrel, job.media_types, job.force, job.retry_failed) == (1, 2, ["img", "video"], True, True)
    assert job.requested_by == user
    assert job.status == JobStatus.PENDING


def test_an_empty_form_starts_the_default_analysis(client_for, runner, land):
    client_for(runner).post(land_url(land), {"media_types": ["img"]})
    job = AnalysisJob.objects.get()
    assert (job.depth, job.minrel, job.media_types, job.force, job.retry_failed) == (None, None, ["img"], False, False)


def test_invalid_input_re_renders_the_form_with_messages(client_for, runner, land):
    client = client_for(runner)
    response = client.post(land_url(land), {"depth": "-2", "minrel": "high", "media_types": ["img", "gif"]})
    assert response.status_code == 400
    assert AnalysisJob.objects.count() == 0
    errors = response.context["errors"]
    assert errors["depth"] == ["must be >= 0 (got -2)"]
    assert errors["minrel"] == ["must be an integer (got 'high')"]
    assert "unknown media type(s): gif" in errors["media_types"][0]
    html = response.content.decode()
    assert "Depth must be &gt;= 0 (got -2)" in html
    assert 'aria-invalid="true"' in html
    assert 'value="high"' in html  # what was typed comes back for correction
    assert "please correct the errors" in " ".join(messages_of(response))


def test_the_start_form_shows_what_the_parameters_select_before_starting(client_for, runner, land):
    client = client_for(runner)
    page = client.get(land_url(land))
    # The default parameters: the one pending image; the failed one waits for "Retry failed".
    assert (page.context["preview"].selected, page.context["preview"].in_scope) == (1, 6)
    html = page.content.decode()
    assert "<strong>1</strong> of the 6 media these parameters cover would be analysed." in html
    assert "1 whose latest attempt failed: left out; tick “Retry failed” to take them." in html

    counted = client.post(land_url(land), {"media_types": ["img"], "retry_failed": "on", "preview": "Count"})
    assert counted.status_code == 200
    assert counted.context["preview"].selected == 2
    assert counted.context["values"]["retry_failed"] is True
    assert AnalysisJob.objects.count() == 0

    # Everything analysed by the current version: nothing to do, and why.
    Media.objects.filter(expression__land=land).exclude(analysis_status="failed").update(
        analysis_status="done", analysis_version=ANALYSIS_VERSION
    )
    # The first showing reads the land's stored counts, which the end of a job or an import refreshes.
    refresh_land_aggregates(land.pk)
    html = client.get(land_url(land)).content.decode()
    assert "Nothing to analyse with these parameters." in html
    assert "5 already analysed by the current version" in html


def test_unchecking_every_media_type_is_an_error_not_a_default(client_for, runner, land):
    response = client_for(runner).post(land_url(land), {"depth": "1"})
    assert response.status_code == 400
    assert response.context["errors"] == {"media_types": ["choose at least one media type"]}
    assert AnalysisJob.objects.count() == 0


def test_a_land_with_a_running_job_gets_a_conflict_and_a_link(client_for, runner, land):
    running = pending_job(land)
    response = client_for(runner).post(land_url(land), {"media_types": ["img"]})
    assert response.status_code == 409
    assert AnalysisJob.objects.count() == 1
    (message,) = messages_of(response)
    assert "already has an active analysis" in message
    assert f'href="{progress_url(running)}"' in message
    assert f'href="{progress_url(running)}"' in response.content.decode()


def test_unknown_land_or_job_is_a_404(admin_client):
    assert admin_client.get("/admin/medianalyse/lands/999999/").status_code == 404
    assert admin_client.get("/admin/medianalyse/lands/999999/gallery/").status_code == 404
    assert admin_client.get("/admin/medianalyse/jobs/999999/").status_code == 404


def test_cancel_stops_an_active_job_and_returns_to_its_page(client_for, runner, land):
    job = pending_job(land)
    jobs.plan_job(job.pk, chunk_size=2)
    client = client_for(runner)
    response = client.post(cancel_url(job), follow=True)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert response.redirect_chain == [(progress_url(job), 302)]
    assert any("cancelled" in m for m in messages_of(response))
    # Cancelling again says it had ended; nothing changes.
    again = client.post(cancel_url(job), follow=True)
    assert any("had already ended" in m for m in messages_of(again))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_cancel_needs_a_post_with_a_csrf_token(runner, land):
    from django.test import Client

    job = pending_job(land)
    client = Client(enforce_csrf_checks=True)
    client.force_login(runner)
    # GET is the confirmation page: it cancels nothing.
    assert client.get(cancel_url(job)).status_code == 200
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    assert client.post(cancel_url(job)).status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    page = client.get(progress_url(job))
    token = page.context["csrf_token"]
    assert client.post(cancel_url(job), {"csrfmiddlewaretoken": str(token)}).status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_progress_page_of_a_running_job(admin_client, land):
    job = pending_job(land, retry_failed=True)
    jobs.plan_job(job.pk, chunk_size=2)
    AnalysisJob.objects.filter(pk=job.pk).update(
        analysed=1,
        failed=1,
        recent_failures=[
            {"media_id": 5, "url": "https://cdn.example/x.jpg", "error_class": "timeout", "reason": "<b>slow</b>"}
        ],
    )
    response = admin_client.get(progress_url(job))
    html = response.content.decode()
    job.refresh_from_db()
    assert job.total == 2
    assert job.status == JobStatus.RUNNING
    assert '<progress id="ma-progress-bar" max="100" value="100.0"' in html
    assert '<strong data-field="progress">100.0%</strong>' in html
    assert '<dd data-field="total">2</dd>' in html
    assert '<dd data-field="failed">1</dd>' in html
    assert f'data-ws-path="/ws/jobs/{job.pk}/"' in html
    assert f'data-api-url="/api/jobs/{job.pk}/"' in html
    assert "<code>timeout</code>" in html
    assert "&lt;b&gt;slow&lt;/b&gt;" in html
    assert 'id="ma-summary" class="ma-summary" aria-labelledby="ma-summary-title" hidden' in html
    assert 'id="ma-cancel"' in html
    snapshot = response.context["snapshot"]
    initial = html.split('<script id="ma-initial" type="application/json">')[1].split("</script>")[0]
    assert json.loads(initial) == json.loads(json.dumps(snapshot))
    assert "/static/medianalyse/progress.js" in html


def test_progress_page_of_a_finished_job_shows_the_summary_and_links(admin_client, land):
    job = pending_job(land, retry_failed=True)
    jobs.plan_job(job.pk, chunk_size=10)
    AnalysisJob.objects.filter(pk=job.pk).update(analysed=1, failed=1)
    job.chunks.update(status="done")
    jobs.finalise_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    html = admin_client.get(progress_url(job)).content.decode()
    assert 'aria-labelledby="ma-summary-title">' in html  # not hidden
    assert 'Success rate: <strong data-field="success_rate">50.0%</strong>' in html
    assert f'href="/admin/lands/media/?expression__land__id__exact={land.pk}"' in html
    assert f'href="{gallery_url(land)}"' in html
    assert f"/api/lands/{land.pk}/export/?type=mediacsv&amp;minrel=all" in html
    assert 'id="ma-cancel"' in html
    assert 'class="ma-cancel" hidden' in html


def test_land_page_lists_jobs_and_renders_every_chart(admin_client, land):
    old = pending_job(land)
    jobs.cancel_job(old)
    current = pending_job(land)
    response = admin_client.get(land_url(land))
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<tr data-job="{old.pk}">' in html
    assert f'<tr data-job="{current.pk}">' in html
    assert f'href="{progress_url(current)}"' in html
    assert 'id="ma-active-job"' in html
    assert "6 media, by the outcome of their latest analysis attempt: 4 analysed,\n    1 failed" in html
    charts = response.context["charts"]
    assert [c.chart_id for c in charts] == [
        "chart-formats",
        "chart-dimensions",
        "chart-file-sizes",
        "chart-palette",
        "chart-failures",
    ]
    for chart in charts:
        ET.fromstring(chart.svg)
        assert chart.svg in html
    formats = ET.fromstring(charts[0].svg)
    bars = {r.get("data-label"): r.get("data-value") for r in formats.iter("{http://www.w3.org/2000/svg}rect")}
    assert bars == {"JPEG": "3", "PNG": "1"}
    assert charts[4].rows == [("timeout", "1 media")]
    assert "Data table" in html


def test_land_page_without_media_says_there_is_no_data(admin_client):
    from tests.factories import make_land

    empty = make_land("Empty")
    html = admin_client.get(land_url(empty)).content.decode()
    assert "No analysis has been run on this land yet." in html
    assert html.count("No data yet.") >= 4


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "\u2014"), (0, "0.0 s"), (4.25, "4.2 s"), (59.9, "59.9 s"), (185, "3 min 05 s"), (7620, "2 h 07 min")],
)
def test_durations_read_like_the_script_writes_them(seconds, text):
    assert format_seconds(seconds) == text


def test_rates():
    assert format_rate(None, "%") == "\u2014"
    assert format_rate(96.666, "%") == "96.7%"
    assert format_rate(21.874, "media/s") == "21.87 media/s"
