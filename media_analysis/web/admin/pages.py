"""Custom admin pages: a job's live progress, a land's analysis page, its gallery.

Mounted under /admin/medianalyse/ (see urls), each view wrapped with
``admin.site.admin_view`` so the admin's login, staff check and CSRF apply. Beyond
staff status, each page asks media_analysis.web.permissions, as the admin's own
lists do: a land's pages need the view permission on lands, a job's page the
jobs' view rule; a link is shown only when its target would open.
Decisions are made in media_analysis.jobs.service and media_analysis.web.gallery; these
views turn requests into calls and results into pages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods

from lands.aggregates import land_aggregates
from lands.models import AnalysisStatus, Land, MediaType
from media_analysis import tasks
from media_analysis.engine.errors import ERROR_CLASSES
from media_analysis.errors import InvalidParameters, JobAlreadyRunning
from media_analysis.jobs.parameters import DEFAULT_MEDIA_TYPES, JobParameters, ocr_unavailable, parse_parameters
from media_analysis.jobs.progress import job_snapshot
from media_analysis.jobs.selection import SelectionPreview, preview_from_groups, preview_selection
from media_analysis.models import AnalysisJob
from media_analysis.texts import frequent
from media_analysis.texts.records import text_of
from media_analysis.web import charts, gallery
from media_analysis.web.permissions import (
    can_run_analysis,
    can_view_jobs,
    can_view_land,
    can_view_media,
    can_view_wall,
)

JOB_HISTORY_LIMIT = 50
EXPORT_TYPES = (
    "mediacsv",
    "archive",
    "mediagexf",
    "clustercsv",
    "pagecsv",
    "fullpagecsv",
    "nodecsv",
    "pagegexf",
    "nodegexf",
    "textcsv",
    "textgexf",
)


def may_run(user) -> bool:
    """Whether ``user`` may start and cancel analyses from the admin: the same rule as the API and the socket."""
    return can_run_analysis(user)


def require(allowed: bool, message: str) -> None:
    """403 as the admin's own views answer it, with the permission named."""
    if not allowed:
        raise PermissionDenied(message)


VIEW_LAND_NEEDED = "This page needs the view permission on lands."
VIEW_JOBS_NEEDED = "This page needs the view permission on analysis jobs or the 'run_analysis' permission."


def format_seconds(seconds: float | None) -> str:
    """``4.2 s``, ``3 min 05 s``, ``2 h 07 min``; a dash when unknown (progress.js mirrors it)."""
    if seconds is None:
        return "\u2014"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def format_rate(value: float | None, unit: str) -> str:
    if value is None:
        return "\u2014"
    return f"{value:.1f}%" if unit == "%" else f"{value:.2f} {unit}"


def describe_job(job: AnalysisJob | dict[str, Any]) -> dict[str, str]:
    """A job's figures as the text the pages show (the same text the script writes)."""
    snapshot = job if isinstance(job, dict) else job_snapshot(job, running_chunks=False)
    return {
        "progress": f"{snapshot['progress']:.1f}%",
        "throughput": format_rate(snapshot["throughput"], "media/s"),
        "eta": format_seconds(snapshot["eta_seconds"]) if snapshot["is_active"] else "\u2014",
        "duration": format_seconds(snapshot["duration_seconds"]),
        "success_rate": format_rate(snapshot["success_rate"], "%"),
    }


def _reverse_or(name: str, fallback: str, args: list[Any] | None = None) -> str:
    # Other apps' admins and endpoints may not be mounted in every configuration.
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return fallback


def land_links(land_id: int, user: Any) -> dict[str, Any]:
    """Where a land's results can be seen: the media list, the gallery, the wall, the clusters, the exports.

    Only the links ``user`` may follow: an empty string (no exports) for the others.
    """
    links: dict[str, Any] = {
        "media_changelist": "",
        "gallery": "",
        "wall": "",
        "clusters": "",
        "analysis": "",
        "land_change": "",
        "exports": [],
    }
    if can_view_media(user):
        media = _reverse_or("admin:lands_media_changelist", "/admin/lands/media/")
        links["media_changelist"] = f"{media}?expression__land__id__exact={land_id}"
    if can_view_wall(user):
        links["wall"] = f"{reverse('medianalyse:wall')}?land={land_id}"
    if can_view_land(user):
        export = _reverse_or("exports:land-export", f"/api/lands/{land_id}/export/", [land_id])
        links.update(
            gallery=reverse("medianalyse:land-gallery", args=[land_id]),
            clusters=reverse("medianalyse_clusters:land-clusters", args=[land_id]),
            analysis=reverse("medianalyse:land-analysis", args=[land_id]),
            land_change=_reverse_or("admin:lands_land_change", "", [land_id]),
            # Every page, scored or not, as a job selects by default: the exports then hold what the job analysed.
            exports=[(name, f"{export}?type={name}&minrel=all") for name in EXPORT_TYPES],
        )
    return links


def job_failures_url(job: AnalysisJob, user: Any) -> str:
    """The media list filtered to the media this job's run left failed, or "" when ``user`` may not open it.

    Media do not record which job last touched them: the list takes the land's failed media whose latest
    attempt ended while the job ran, so a failure analysed again since then is no longer listed.
    """
    if not can_view_media(user):
        return ""
    # A job not started yet is linked from its creation: the page that shows the link outlives the start.
    query = {
        "expression__land__id__exact": job.land_id,
        "analysis_status__exact": AnalysisStatus.FAILED,
        "analyzed_at__gte": (job.started_at or job.created_at).isoformat(),
    }
    if job.finished_at:
        query["analyzed_at__lte"] = job.finished_at.isoformat()
    media = _reverse_or("admin:lands_media_changelist", "/admin/lands/media/")
    return f"{media}?{urlencode(query)}"


def lands_changelist_url(user: Any) -> str:
    return _reverse_or("admin:lands_land_changelist", "") if can_view_land(user) else ""


def media_change_url(user: Any, media_id: int) -> str:
    """The media's admin page, or an empty string when ``user`` may not open it."""
    return _reverse_or("admin:lands_media_change", "", [media_id]) if can_view_media(user) else ""


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, "may_run": may_run(request.user), **extra}


# --- A job's progress ----------------------------------------------------------


def job_progress_view(request: HttpRequest, job_id: int) -> HttpResponse:
    require(can_view_jobs(request.user), VIEW_JOBS_NEEDED)
    job = get_object_or_404(AnalysisJob.objects.select_related("land", "requested_by"), pk=job_id)
    snapshot = job_snapshot(job)
    context = _context(
        request,
        f"Analysis job {job.pk}: {job.land.name}",
        job=job,
        land=job.land,
        snapshot=snapshot,
        display=describe_job(snapshot),
        # Failures link to their media only for users who may open them.
        media_prefix=_reverse_or("admin:lands_media_changelist", "/admin/lands/media/")
        if can_view_media(request.user)
        else "",
        links=land_links(job.land_id, request.user),
        ws_path=f"/ws/jobs/{job.pk}/",
        api_url=_reverse_or("analysisjob-detail", f"/api/jobs/{job.pk}/", [job.pk]),
        cancel_url=reverse("medianalyse:job-cancel", args=[job.pk]),
        job_admin_url=_reverse_or("admin:media_analysis_analysisjob_change", "", [job.pk]),
        failures_url=job_failures_url(job, request.user),
        lands_url=lands_changelist_url(request.user),
    )
    return render(request, "media_analysis/job_progress.html", context)


@require_http_methods(["GET", "POST"])
def job_cancel_view(request: HttpRequest, job_id: int) -> HttpResponse:
    """GET: the confirmation page, saying what a cancel stops and what it lets finish. POST: cancel."""
    if not may_run(request.user):
        raise PermissionDenied("Cancelling an analysis needs the 'run_analysis' permission.")
    job = get_object_or_404(AnalysisJob.objects.select_related("land"), pk=job_id)
    if request.method == "GET":
        context = _context(
            request,
            f"Cancel analysis job {job.pk}?",
            job=job,
            land=job.land,
            snapshot=job_snapshot(job),
            links=land_links(job.land_id, request.user),
            progress_url=reverse("medianalyse:job-progress", args=[job.pk]),
            cancel_url=reverse("medianalyse:job-cancel", args=[job.pk]),
            lands_url=lands_changelist_url(request.user),
        )
        return render(request, "media_analysis/job_cancel.html", context)
    if job.is_active:
        job = tasks.cancel_job(job)
        messages.success(
            request,
            f"Job {job.pk} cancelled: the chunks already running finish (the media they had not begun are "
            "skipped); the chunks not started are left, counted as not processed.",
        )
    else:
        messages.info(request, f"Job {job.pk} had already ended ({job.get_status_display().lower()}).")
    return HttpResponseRedirect(reverse("medianalyse:job-progress", args=[job.pk]))


# --- A land's analysis page ------------------------------------------------------


def _form_values(data: Any | None = None) -> dict[str, Any]:
    if data is None:
        return {
            "depth": "",
            "minrel": "",
            "media_types": list(DEFAULT_MEDIA_TYPES),
            "force": False,
            "retry_failed": False,
            "ocr": False,
        }
    return {
        "depth": data.get("depth", "").strip(),
        "minrel": data.get("minrel", "").strip(),
        "media_types": data.getlist("media_types"),
        "force": bool(data.get("force")),
        "retry_failed": bool(data.get("retry_failed")),
        "ocr": bool(data.get("ocr")),
    }


def parse_start_form(data: Any) -> tuple[JobParameters | None, dict[str, Any], dict[str, list[str]]]:
    """The start form's POST data -> (parameters or None, values to re-show, errors by field)."""
    values = _form_values(data)
    if not values["media_types"]:
        # parse_parameters reads "no types" as the default; on a form it is a forgotten box.
        return None, values, {"media_types": ["choose at least one media type"]}
    raw = {
        "depth": values["depth"],
        "minrel": values["minrel"],
        "media_types": values["media_types"],
        "force": values["force"],
        "retry_failed": values["retry_failed"],
        "ocr": values["ocr"],
    }
    try:
        return parse_parameters(raw), values, {}
    except InvalidParameters as invalid:
        return None, values, invalid.errors


def land_charts(stored: dict[str, Any]) -> list[charts.Chart]:
    """The land page's charts, drawn from its stored figures (``lands.aggregates.compute_figures``)."""
    formats = [(label, n) for label, n in stored["formats"]]
    dimensions = {(x, y): n for x, y, n in stored["dimensions"]}
    file_sizes = [(label, n) for label, n in stored["file_sizes"]]
    palette = [(hex_value, share) for hex_value, share in stored["palette"]]
    images = stored["palette_images"]
    failures = [(label, n) for label, n in stored["failures"]]
    labels = gallery.edge_labels(gallery.DIMENSION_EDGES)
    return [
        charts.bar_chart(formats, chart_id="chart-formats", title="Formats", unit="media"),
        charts.heatmap(
            labels,
            labels,
            dimensions,
            chart_id="chart-dimensions",
            title="Dimensions (width x height)",
            x_title="width",
            y_title="height",
        ),
        charts.histogram(file_sizes, chart_id="chart-file-sizes", title="File sizes"),
        charts.palette_chart(
            palette,
            chart_id="chart-palette",
            title=f"Colour palette: mean share of each web-safe colour over {images:,} images",
        ),
        charts.bar_chart(failures, chart_id="chart-failures", title="Failure reasons", unit="media"),
    ]


def _render_land_page(
    request: HttpRequest,
    land: Land,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    params: JobParameters | None = None,
    status: int = 200,
) -> HttpResponse:
    preview: SelectionPreview | None = None
    aggregates = land_aggregates(land.pk)
    shown_first = params is None and not errors
    if shown_first:
        params = JobParameters()
    if params is not None:
        # What "Start" would take with the parameters shown, before anything starts: on first showing, from
        # the stored counts (a land of a million media took seconds to count); "Count" counts anew.
        stored = (aggregates.figures or {}).get("selection")
        if shown_first and stored is not None:
            preview = preview_from_groups(stored, params)
        if preview is None:
            preview = preview_selection(land, params)
    links = land_links(land.pk, request.user)
    text_words = frequent.land_words(land.pk)

    # The phrase link finds the pictures holding both words, anywhere in their text.
    def gallery_of(text: str) -> str:
        return f"{links['gallery']}?{urlencode({'text': text})}" if links["gallery"] else ""

    # The job history is the jobs' data: shown to those the job list would show it to.
    may_view_jobs = can_view_jobs(request.user)
    history: list[AnalysisJob] = []
    if may_view_jobs:
        history = list(AnalysisJob.objects.filter(land=land).select_related("requested_by")[:JOB_HISTORY_LIMIT])
    context = _context(
        request,
        f"Media analysis: {land.name}",
        land=land,
        jobs=[(job, describe_job(job)) for job in history],
        # A land's active job is always its newest (no job starts while one is active).
        active_job=next((job for job in history if job.is_active), None),
        may_view_jobs=may_view_jobs,
        # Stored: recounting a land of a million media took seconds per view.
        status_counts={
            "total": aggregates.media_count,
            "done": aggregates.analysed_count,
            "failed": aggregates.failed_count,
            "pending": aggregates.pending_count,
        },
        counted_at=aggregates.refreshed_at,
        charts=land_charts(aggregates.figures or {}),
        links=links,
        text_words=text_words,
        frequent_words=[(entry, gallery_of(entry.text)) for entry in text_words.words],
        frequent_phrases=[(entry, gallery_of(entry.text)) for entry in text_words.phrases],
        values=values or _form_values(),
        errors=errors or {},
        preview=preview,
        ocr_unavailable=ocr_unavailable(),
        media_type_choices=MediaType.choices,
        jobs_changelist=_reverse_or("admin:media_analysis_analysisjob_changelist", "") if may_view_jobs else "",
        lands_url=lands_changelist_url(request.user),
    )
    return render(request, "media_analysis/land_analysis.html", context, status=status)


@require_http_methods(["GET", "POST"])
def land_analysis_view(request: HttpRequest, land_id: int) -> HttpResponse:
    require(can_view_land(request.user), VIEW_LAND_NEEDED)
    land = get_object_or_404(Land, pk=land_id)
    if request.method == "GET":
        return _render_land_page(request, land)
    if not may_run(request.user):
        raise PermissionDenied("Starting an analysis needs the 'run_analysis' permission.")
    params, values, errors = parse_start_form(request.POST)
    if params is None:
        messages.error(request, "The analysis was not started: please correct the errors below.")
        return _render_land_page(request, land, values=values, errors=errors, status=400)
    if "preview" in request.POST:
        return _render_land_page(request, land, values=values, params=params)
    try:
        job = tasks.start_job(land, params, requested_by=request.user)
    except JobAlreadyRunning as running:
        url = reverse("medianalyse:job-progress", args=[running.job.pk])
        messages.warning(
            request,
            format_html(
                'This land already has an active analysis: <a href="{}">job {}</a> ({}). '
                "Wait for it to end or cancel it first.",
                url,
                running.job.pk,
                running.job.status,
            ),
        )
        return _render_land_page(request, land, values=values, params=params, status=409)
    messages.success(request, f"Analysis job {job.pk} started on {land.name}.")
    return HttpResponseRedirect(reverse("medianalyse:job-progress", args=[job.pk]))


# --- The gallery -------------------------------------------------------------------


def land_gallery_view(request: HttpRequest, land_id: int) -> HttpResponse:
    require(can_view_land(request.user), VIEW_LAND_NEEDED)
    land = get_object_or_404(Land, pk=land_id)
    query = gallery.GalleryQueryForm(request.GET)
    errors = query.problems()
    filters = query.filters()
    after, before = query.cursor()
    # A bad value is refused, never dropped: a silently widened page would be misread.
    page = (
        gallery.GalleryPage([], False, False, 0, False, filters)
        if errors
        else gallery.gallery_page(land.pk, filters, after=after, before=before)
    )
    context = _context(
        request,
        f"Gallery: {land.name}",
        land=land,
        page=page,
        filters=filters,
        errors=errors,
        links=land_links(land.pk, request.user),
        status_choices=AnalysisStatus.choices,
        type_choices=MediaType.choices,
        error_classes=ERROR_CLASSES,
        conformity_choices=[("yes", "Conforming"), ("no", "Not conforming"), ("unknown", "Unknown")],
        earlier_values_choices=gallery.EARLIER_VALUES_CHOICES,
        formats=gallery.GALLERY_FORMATS,
        colours=[(name, "#{:02x}{:02x}{:02x}".format(*rgb)) for name, rgb in gallery.NAMED_COLOURS.items()],
        sorts=gallery.SORTS,
        domains=gallery.land_domains(land.pk),
        card_text_characters=gallery.CARD_TEXT_CHARACTERS,
        items=[
            {
                "media": media,
                "change_url": media_change_url(request.user, media.pk),
                "colours": gallery.swatches(media.dominant_colors),
                "cluster_url": (
                    reverse("medianalyse_clusters:cluster-detail", args=[media.cluster_id]) if media.cluster_id else ""
                ),
                "domain": media.expression.domain,
                "text": text_of(media),
            }
            for media in page.items
        ],
    )
    return render(request, "media_analysis/gallery.html", context, status=400 if errors else 200)
