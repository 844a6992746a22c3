"""Which media a job analyses: pages by the shared depth/minrel rule, then types and statuses; the dry run.

The semantics of each parameter are described in media_analysis.jobs.parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

from lands.models import AnalysisStatus, Land, Media
from media_analysis.jobs.parameters import DEFAULT_MEDIA_TYPES, JobParameters
from media_analysis.models import AnalysisJob


def _in_scope(land_id: int, params: JobParameters) -> QuerySet[Media]:
    """Media of the selected types on the pages that depth and minrel select, whatever their status."""
    return Media.objects.filter(expression__land_id=land_id, type__in=params.media_types).on_selected_pages(
        params.depth, params.minrel
    )


def select_media(land: Land | int, params: JobParameters) -> QuerySet[Media]:
    land_id = land.pk if isinstance(land, Land) else land
    queryset = _in_scope(land_id, params)
    if not params.force:
        statuses = [AnalysisStatus.PENDING]
        if params.retry_failed:
            statuses.append(AnalysisStatus.FAILED)
        queryset = queryset.filter(analysis_status__in=statuses)
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

    def lines(self) -> list[str]:
        out = [
            f"Land {self.land!r}: {self.in_scope} media in scope, {self.selected} would be analysed "
            f"({self.already_analysed} already analysed, {self.non_conforming} non-conforming).",
            f"Parameters: {self.parameters}",
        ]
        for media_type, statuses in sorted(self.by_type_and_status.items()):
            detail = ", ".join(f"{status}={count}" for status, count in sorted(statuses.items()))
            out.append(f"  {media_type}: {detail}")
        return out


def dry_run(land: Land, params: JobParameters) -> DryRunReport:
    """What a job would do, without writing anything."""
    scope = _in_scope(land.pk, params)
    grouped = scope.values("type", "analysis_status").annotate(n=Count("id")).order_by()
    report = DryRunReport(land=land.name, parameters=params.as_dict(), selected=select_media(land, params).count())
    for row in grouped:
        report.by_type_and_status.setdefault(row["type"], {})[row["analysis_status"]] = row["n"]
        report.in_scope += row["n"]
    totals = scope.aggregate(
        done=Count("id", filter=Q(analysis_status=AnalysisStatus.DONE)),
        nonconf=Count("id", filter=Q(is_conforming=False)),
    )
    report.already_analysed = totals["done"]
    report.non_conforming = totals["nonconf"]
    return report
