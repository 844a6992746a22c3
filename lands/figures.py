"""A land's figures, for its charts: counts grouped by the database and the palette summed over a stream.

Lands' core, so that the aggregates kept per land (lands.aggregates) can compute
them for a job's end or an import as well as the pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from django.db.models import Case, Count, IntegerField, Q, Value, When

from lands.models import AnalysisStatus, Media, MediaType

PALETTE_CHUNK = 2_000
PALETTE_TOP = 20

# Bin edges: lower bounds of each bin, the last one open-ended.
DIMENSION_EDGES = (0, 100, 200, 400, 800, 1200, 1600, 2400, 3200)
FILE_SIZE_EDGES = (
    0,
    10_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
)


def _bin_expression(field_name: str, edges: tuple[int, ...]) -> Case:
    """The index of the bin ``field_name`` falls in, computed by the database."""
    whens = [When(**{f"{field_name}__lt": upper}, then=Value(index)) for index, upper in enumerate(edges[1:])]
    return Case(*whens, default=Value(len(edges) - 1), output_field=IntegerField())


def edge_labels(edges: tuple[int, ...], unit: str = "") -> list[str]:
    def show(value: int) -> str:
        if unit == "B":
            return human_bytes(value)
        return f"{value:,}"

    labels = [f"{show(low)}-{show(high)}" for low, high in pairwise(edges)]
    labels.append(f"{show(edges[-1])}+")
    return labels


def human_bytes(value: int) -> str:
    if value == 0:
        return "0"
    if value >= 1_000_000:
        return f"{value / 1_000_000:g} MB"
    if value >= 1_000:
        return f"{value / 1_000:g} kB"
    return f"{value} B"


def format_counts(land_id: int) -> list[tuple[str, int]]:
    rows = (
        Media.objects.of_land(land_id)
        .filter(format__isnull=False)
        .values("format")
        .annotate(n=Count("id"))
        .order_by("-n", "format")
    )
    return [(row["format"] or "?", row["n"]) for row in rows]


def dimension_bins(land_id: int) -> dict[tuple[int, int], int]:
    """``{(width bin, height bin): count}`` over DIMENSION_EDGES, grouped in SQL."""
    rows = (
        Media.objects.of_land(land_id)
        .filter(width__isnull=False, height__isnull=False)
        .annotate(wbin=_bin_expression("width", DIMENSION_EDGES), hbin=_bin_expression("height", DIMENSION_EDGES))
        .values("wbin", "hbin")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["wbin"], row["hbin"]): row["n"] for row in rows}


def file_size_bins(land_id: int) -> list[tuple[str, int]]:
    rows = (
        Media.objects.of_land(land_id)
        .filter(file_size__isnull=False)
        .annotate(sbin=_bin_expression("file_size", FILE_SIZE_EDGES))
        .values("sbin")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {row["sbin"]: row["n"] for row in rows}
    return [(label, counts.get(index, 0)) for index, label in enumerate(edge_labels(FILE_SIZE_EDGES, "B"))]


def failure_counts(land_id: int) -> list[tuple[str, int]]:
    rows = (
        Media.objects.of_land(land_id)
        .filter(Q(analysis_status=AnalysisStatus.FAILED) | Q(error_class__isnull=False))
        .values("error_class")
        .annotate(n=Count("id"))
        .order_by("-n", "error_class")
    )
    return [(row["error_class"] or "unknown", row["n"]) for row in rows]


_HEX_RE = re.compile(r"#[0-9a-fA-F]{6}")


def _palette_entries(value: Any) -> Iterable[tuple[str, float]]:
    """(hex, percent) pairs from a stored ``websafe_colors`` value, ignoring malformed entries."""
    if isinstance(value, dict):
        pairs: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        pairs = ((item.get("hex"), item.get("percentage")) for item in value if isinstance(item, dict))
    else:
        return
    for hex_value, percent in pairs:
        if not isinstance(hex_value, str) or not _HEX_RE.fullmatch(hex_value):
            continue
        if isinstance(percent, int | float) and not isinstance(percent, bool) and 0 <= percent <= 100:
            yield hex_value.lower(), float(percent)


def accumulate_palette(values: Iterable[Any], top: int = PALETTE_TOP) -> tuple[list[tuple[str, float]], int]:
    """Each web-safe colour's mean share of the images, in percent, largest first.

    Returns ``(shares, images)``: ``images`` counts the values that held a
    palette; a colour absent from an image counts as 0% of it, so the shares
    of all colours sum to about 100.
    """
    totals: dict[str, float] = {}
    images = 0
    for value in values:
        entries = list(_palette_entries(value))
        if not entries:
            continue
        images += 1
        for hex_value, percent in entries:
            totals[hex_value] = totals.get(hex_value, 0.0) + percent
    if not images:
        return [], 0
    shares = sorted(((hex_value, total / images) for hex_value, total in totals.items()), key=lambda i: (-i[1], i[0]))
    return shares[:top], images


def land_palette(land_id: int, top: int = PALETTE_TOP) -> tuple[list[tuple[str, float]], int]:
    values = (
        Media.objects.of_land(land_id)
        .filter(type=MediaType.IMAGE, websafe_colors__isnull=False)
        .values_list("websafe_colors", flat=True)
        .order_by()
    )
    # Streamed: memory stays bounded by the chunk, not by the land.
    return accumulate_palette(values.iterator(chunk_size=PALETTE_CHUNK), top)
