"""Which media a job analyses: pages by the shared depth/minrel rule, then types, statuses and versions; the dry run.

The semantics of each parameter are described in media_analysis.jobs.parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from lands.models import AnalysisStatus, Land, Media, MediaType
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.jobs.parameters import DEFAULT_MEDIA_TYPES, JobParameters
from media_analysis.models import AnalysisJob, MediaText


def _in_scope(land_id: int, params: JobParameters) -> QuerySet[Media]:
    """Media of the selected types on the pages that depth and minrel select, whatever their status."""
    return Media.objects.filter(expression__land_id=land_id, type__in=params.media_types).on_selected_pages(
        params.depth, params.minrel
    )


def _needs_it(params: JobParameters) -> Q:
    """Without ``force``: what ``Media.needs_analysis`` takes for this engine's version.

    With ``ocr``, also the images analysed whose text was never read, or read by an older OCR step.
    """
    needs = Media.needs_analysis(ANALYSIS_VERSION, params.retry_failed)
    if params.ocr:
        needs |= _unread()
    return needs


def _unread() -> Q:
    """Images analysed whose text was never read, or read by an older version of the OCR step."""
    return Q(type=MediaType.IMAGE, analysis_status=AnalysisStatus.DONE) & ~Q(
        Exists(MediaText.objects.current().filter(media_id=OuterRef("pk")))
    )


def select_media(land: Land | int, params: JobParameters) -> QuerySet[Media]:
    land_id = land.pk if isinstance(land, Land) else land
    queryset = _in_scope(land_id, params)
    if not params.force:
        queryset = queryset.filter(_needs_it(params))
    return queryset


def job_media(job: AnalysisJob) -> QuerySet[Media]:
    """The media a job analyses: the media it was given (of its land), or its parameters' selection."""
    if job.media_ids is not None:
        return Media.objects.filter(pk__in=job.media_ids, expression__land_id=job.land_id)
    params = JobParameters(
        depth=job.depth,
        minrel=job.minrel,
        media_types=tuple(job.media_types or DEFAULT_MEDIA_TYPES),
        force=job.force,
        retry_failed=job.retry_failed,
        ocr=job.ocr,
    )
    return select_media(job.land_id, params)


@dataclass
class DryRunReport:
    land: str
    parameters: dict[str, Any]
    selected: int
    by_type_and_status: dict[str, dict[str, int]] = field(default_factory=dict)
    already_analysed: int = 0
    non_conforming: int = 0
    in_scope: int = 0
    outdated: int = 0  # latest attempt succeeded, with an older analysis version

    def lines(self) -> list[str]:
        out = [
            f"Land {self.land!r}: {self.in_scope} media in scope, {self.selected} would be analysed "
            f"({self.already_analysed} already analysed, {self.outdated} of them by an older analysis version; "
            f"{self.non_conforming} non-conforming).",
            f"Parameters: {self.parameters}",
        ]
        for media_type, statuses in sorted(self.by_type_and_status.items()):
            detail = ", ".join(f"{status}={count}" for status, count in sorted(statuses.items()))
            out.append(f"  {media_type}: {detail}")
        return out


def dry_run(land: Land, params: JobParameters) -> DryRunReport:
    """What a job would do, without writing anything: one grouped scan of the media in scope.

    Each count is a filtered count of the same groups (type and status), so a land of a million media is read
    once, not once per figure.
    """
    needs = _needs_it(params)
    done = Q(analysis_status=AnalysisStatus.DONE)
    grouped = (
        _in_scope(land.pk, params)
        .values("type", "analysis_status")
        .annotate(
            n=Count("id"),
            selected=Count("id") if params.force else Count("id", filter=needs),
            outdated=Count("id", filter=done & needs),
            nonconf=Count("id", filter=Q(is_conforming=False)),
        )
        .order_by()
    )
    report = DryRunReport(land=land.name, parameters=params.as_dict(), selected=0)
    for row in grouped:
        report.by_type_and_status.setdefault(row["type"], {})[row["analysis_status"]] = row["n"]
        report.in_scope += row["n"]
        report.selected += row["selected"]
        report.outdated += row["outdated"]
        report.non_conforming += row["nonconf"]
        if row["analysis_status"] == AnalysisStatus.DONE:
            report.already_analysed += row["n"]
    return report


@dataclass(frozen=True)
class SelectionPreview:
    """What a job with these parameters would take, and why the rest is left, from one query."""

    in_scope: int
    selected: int
    pending: int
    outdated: int
    failed: int
    current: int
    force: bool
    retry_failed: bool
    unread: int = 0  # with ocr: images analysed by the current version without a current reading (taken)

    def reasons(self) -> list[str]:
        """Why the media in scope are taken or left, in words for the start form."""
        if self.in_scope == 0:
            return ["No media of the chosen types on the pages these depth and relevance limits select."]
        if self.force:
            lines = [f"Force: all {self.in_scope} media in scope are analysed again."]
            if settings.MEDIA_ANALYSIS_CONDITIONAL_REQUESTS:
                lines.append(
                    "Those holding values of the current version with the server's ETag or Last-Modified are "
                    "asked first whether they changed, and keep their values when not (counted as unchanged)."
                )
            return lines
        lines = []
        if self.pending:
            lines.append(f"{self.pending} never analysed here (or imported without a usable result).")
        if self.outdated:
            lines.append(f"{self.outdated} analysed by an older analysis version (version {ANALYSIS_VERSION} now).")
        if self.failed:
            lines.append(
                f"{self.failed} whose latest attempt failed"
                + (" are retried." if self.retry_failed else ": left out; tick “Retry failed” to take them.")
            )
        if self.unread:
            lines.append(
                f"{self.unread} analysed by the current version, their text never read or read by an older OCR "
                "step: taken to read it."
            )
        if self.current:
            lines.append(
                f"{self.current} already analysed by the current version: left out; tick “Force” to redo them."
            )
        if not self.selected:
            lines.insert(0, "Nothing to analyse with these parameters.")
        return lines


def preview_from_groups(groups: Sequence[Sequence[Any]], params: JobParameters) -> SelectionPreview | None:
    """``preview_selection`` from a land's stored groups ``[type, status, analysis version, media]``.

    The groups are ``lands.aggregates``' (as of their refresh). Parameters with a depth or a relevance
    limit need the pages, and OCR the text rows: None then, and the caller counts with ``preview_selection``.
    """
    if params.depth is not None or params.minrel is not None or params.ocr:
        return None
    counts = dict.fromkeys(("in_scope", "selected", "pending", "outdated", "failed", "current"), 0)
    for media_type, status, version, n in groups:
        if media_type not in params.media_types:
            continue
        outdated = status == AnalysisStatus.DONE and (version is None or version < ANALYSIS_VERSION)
        needs_it = (
            status == AnalysisStatus.PENDING or outdated or (params.retry_failed and status == AnalysisStatus.FAILED)
        )
        counts["in_scope"] += n
        counts["selected"] += n if params.force or needs_it else 0
        counts["pending"] += n if status == AnalysisStatus.PENDING else 0
        counts["failed"] += n if status == AnalysisStatus.FAILED else 0
        counts["outdated"] += n if outdated else 0
        counts["current"] += n if status == AnalysisStatus.DONE and not outdated else 0
    return SelectionPreview(force=params.force, retry_failed=params.retry_failed, **counts)


def preview_selection(land: Land | int, params: JobParameters) -> SelectionPreview:
    """The counts behind ``select_media`` for the start form, in one aggregate query."""
    land_id = land.pk if isinstance(land, Land) else land
    needs_it = _needs_it(params)
    row = _in_scope(land_id, params).aggregate(
        in_scope=Count("id"),
        selected=Count("id") if params.force else Count("id", filter=needs_it),
        pending=Count("id", filter=Q(analysis_status=AnalysisStatus.PENDING)),
        outdated=Count("id", filter=Q(analysis_status=AnalysisStatus.DONE) & needs_it),
        failed=Count("id", filter=Q(analysis_status=AnalysisStatus.FAILED)),
        current=Count("id", filter=Q(analysis_status=AnalysisStatus.DONE) & ~needs_it),
        **(
            {"unread": Count("id", filter=_unread() & ~Media.needs_analysis(ANALYSIS_VERSION, params.retry_failed))}
            if params.ocr
            else {}
        ),
    )
    return SelectionPreview(force=params.force, retry_failed=params.retry_failed, **row)
