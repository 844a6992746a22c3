"""Admin actions that start analyses; the Land and Media admins list them.

Both start jobs through media_analysis.tasks.start_job like every other entry point, and
send the user to the job's live progress page when there is exactly one. The admins that
list them define ``has_run_analysis_permission``, so the actions are offered only to users
holding ``run_analysis``; each action checks it again.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from lands.models import Land, Media
from media_analysis import tasks
from media_analysis.errors import JobAlreadyRunning
from media_analysis.jobs.parameters import JobParameters
from media_analysis.web.admin.pages import may_run


def _progress_url(job_id: int) -> str:
    return reverse("medianalyse:job-progress", args=[job_id])


def _refuse(modeladmin: admin.ModelAdmin, request: HttpRequest) -> None:
    modeladmin.message_user(request, "Starting an analysis needs the 'run_analysis' permission.", level=messages.ERROR)


def _warn_running(modeladmin: admin.ModelAdmin, request: HttpRequest, running: JobAlreadyRunning) -> None:
    job = running.job
    modeladmin.message_user(
        request,
        format_html(
            '{} already has an active analysis: <a href="{}">job {}</a> ({}); no new job was started for it.',
            job.land.name,
            _progress_url(job.pk),
            job.pk,
            job.status,
        ),
        level=messages.WARNING,
    )


@admin.action(description="Analyse media", permissions=["run_analysis"])
def analyse_land_media_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Land]
) -> HttpResponseRedirect | None:
    """One job per selected land, with the default parameters (new images).

    With a single land selected the user lands on its job's progress page,
    the running one if the land already had one.
    """
    if not may_run(request.user):
        _refuse(modeladmin, request)
        return None
    lands = list(queryset.order_by("pk"))
    started: list[int] = []
    shown: list[int] = []
    for land in lands:
        try:
            job = tasks.start_job(land, JobParameters(), requested_by=request.user)
        except JobAlreadyRunning as running:
            _warn_running(modeladmin, request, running)
            shown.append(running.job.pk)
            continue
        started.append(job.pk)
        shown.append(job.pk)
    if started:
        links = format_html_join(", ", '<a href="{}">job {}</a>', ((_progress_url(pk), pk) for pk in started))
        modeladmin.message_user(
            request,
            format_html(
                "Media analysis started: {}. Options (depth, types, force) are on each land's Media analysis page.",
                links,
            ),
            level=messages.SUCCESS,
        )
    if len(lands) == 1 and shown:
        return HttpResponseRedirect(_progress_url(shown[0]))
    return None


@admin.action(description="Analyse selected media", permissions=["run_analysis"])
def analyse_selected_media_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Media]
) -> HttpResponseRedirect | None:
    """One job analysing exactly the selected media (whatever their status), all of one land."""
    if not may_run(request.user):
        _refuse(modeladmin, request)
        return None
    rows = list(queryset.order_by("pk").values_list("pk", "expression__land_id", "type"))
    land_ids = {land_id for _, land_id, _ in rows}
    if len(land_ids) != 1:
        modeladmin.message_user(
            request,
            f"Select media of a single land (the selection spans {len(land_ids)} lands); "
            "filter the list by land first.",
            level=messages.ERROR,
        )
        return None
    land = Land.objects.get(pk=land_ids.pop())
    media_types = tuple(sorted({media_type for _, _, media_type in rows}))
    # force: the user picked these media, so they are analysed again even when done.
    params = JobParameters(media_types=media_types, force=True)
    try:
        job = tasks.start_job(land, params, requested_by=request.user, media_ids=[pk for pk, _, _ in rows])
    except JobAlreadyRunning as running:
        _warn_running(modeladmin, request, running)
        return HttpResponseRedirect(_progress_url(running.job.pk))
    modeladmin.message_user(
        request, f"Analysis of {len(rows)} selected media started (job {job.pk}).", level=messages.SUCCESS
    )
    return HttpResponseRedirect(_progress_url(job.pk))
