"""A land's stored counts and chart figures (``LandAggregates``): the one place that writes them.

Counting a land of a million media takes seconds, and sorting the lands list by a
count took minutes when each land's counts were correlated subqueries. The pages
read the stored row instead; it is refreshed

* by ``refresh_land_aggregates`` at the end of every analysis job (jobs.service)
  and of an import, which call it once per land;
* lazily: ``ensure_land_counts`` gives every land without a row its counts (grouped
  queries over those lands only), and ``land_figures`` computes the figures of a
  land that has none yet.

Between two refreshes the figures are those of ``refreshed_at``: the pages say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from lands import figures
from lands.models import AnalysisStatus, Expression, Land, LandAggregates, Media

COUNT_FIELDS = ("expression_count", "media_count", "analysed_count", "failed_count", "pending_count")
_STATUS_FIELDS: dict[str, str] = {
    AnalysisStatus.DONE.value: "analysed_count",
    AnalysisStatus.FAILED.value: "failed_count",
    AnalysisStatus.PENDING.value: "pending_count",
}


def count_lands(land_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """The counts of each land, in two grouped queries whatever the number of lands."""
    ids = list(land_ids)
    counts: dict[int, dict[str, int]] = {land_id: dict.fromkeys(COUNT_FIELDS, 0) for land_id in ids}
    pages = Expression.objects.filter(land_id__in=ids).values("land_id").annotate(n=Count("id")).order_by()
    for page_row in pages:
        counts[page_row["land_id"]]["expression_count"] = page_row["n"]
    media = (
        Media.objects.filter(expression__land_id__in=ids)
        .values("expression__land_id", "analysis_status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for media_row in media:
        land_counts = counts[media_row["expression__land_id"]]
        land_counts["media_count"] += media_row["n"]
        field = _STATUS_FIELDS.get(media_row["analysis_status"])
        if field:
            land_counts[field] += media_row["n"]
    return counts


def compute_figures(land_id: int) -> dict[str, Any]:
    """The chart data of a land, as JSON-ready lists (one grouped query per chart, one streamed palette)."""
    palette, images = figures.land_palette(land_id)
    return {
        "formats": [list(row) for row in figures.format_counts(land_id)],
        "dimensions": [[x, y, n] for (x, y), n in sorted(figures.dimension_bins(land_id).items())],
        "file_sizes": [list(row) for row in figures.file_size_bins(land_id)],
        "palette": [list(row) for row in palette],
        "palette_images": images,
        "failures": [list(row) for row in figures.failure_counts(land_id)],
        # [type, status, analysis version, media]: what the start form's preview counts, without reading the land.
        "selection": [
            [row["type"], row["analysis_status"], row["analysis_version"], row["n"]]
            for row in Media.objects.of_land(land_id)
            .values("type", "analysis_status", "analysis_version")
            .annotate(n=Count("id"))
            .order_by()
        ],
    }


def _store(land_id: int, values: dict[str, Any]) -> None:
    values = {**values, "refreshed_at": timezone.now()}
    if LandAggregates.objects.filter(land_id=land_id).update(**values):
        return
    try:
        with transaction.atomic():
            LandAggregates.objects.create(land_id=land_id, **values)
    except IntegrityError:
        # Another process created the row meanwhile (or the land is gone): update what is there.
        LandAggregates.objects.filter(land_id=land_id).update(**values)


def refresh_land_aggregates(land_id: int) -> None:
    """Recount a land and recompute its chart figures: call it once a job or an import has changed the land."""
    counts = count_lands([land_id])[land_id]
    _store(land_id, {**counts, "figures": compute_figures(land_id)})


def refresh_land_counts(land_ids: Iterable[int]) -> None:
    """Recount the given lands (their figures stay as they are)."""
    for land_id, counts in count_lands(land_ids).items():
        _store(land_id, counts)


def ensure_land_counts() -> None:
    """Give every land that has no aggregates yet its counts: one query when every land has them."""
    missing = list(Land.objects.filter(aggregates__isnull=True).values_list("pk", flat=True))
    if missing:
        refresh_land_counts(missing)


# A land holding at least this share of all media is read by walking the media in id order
# (Media.in_land): a page then reads at most ten times its size.
DENSE_SHARE = 0.1


def is_dense_land(land_id: int) -> bool:
    """Whether the land holds at least DENSE_SHARE of all media, by the stored counts (one query)."""
    row = LandAggregates.objects.aggregate(total=Sum("media_count"), land=Sum("media_count", filter=Q(land_id=land_id)))
    total, land = row["total"] or 0, row["land"] or 0
    return total > 0 and land >= DENSE_SHARE * total


def land_aggregates(land_id: int) -> LandAggregates:
    """A land's aggregates with their figures, computing whatever is missing first."""
    row = LandAggregates.objects.filter(land_id=land_id).first()
    if row is None or row.figures is None:
        refresh_land_aggregates(land_id)
        row = LandAggregates.objects.get(land_id=land_id)
    return row
