"""Server-side charts as inline SVG strings, with their data as text.

Pure functions: they take plain numbers and labels and know nothing of Django,
so they can be tested by parsing their output. Every chart carries a
``<title>`` and a ``<desc>`` that states its numbers, and every mark repeats
its value as text (a ``<title>`` tooltip and a visible label), so nothing is
conveyed by colour alone. Labels come from crawled data: everything is escaped,
and a colour reaches a ``fill`` attribute only after a strict hex check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

DEFAULT_FILL = "#417690"  # the admin's own blue, readable on white
EMPTY_TEXT = "No data yet."
FONT = 'font-family="sans-serif" font-size="11"'
_HEX_RE = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Chart:
    """One chart: the SVG markup, and the same numbers as rows for a table."""

    chart_id: str
    title: str
    description: str
    svg: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    headers: tuple[str, str] = ("Label", "Value")


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def safe_fill(color: str | None) -> str:
    """``color`` when it is a ``#rrggbb`` hex colour, the default fill otherwise."""
    if color and _HEX_RE.fullmatch(color):
        return color.lower()
    return DEFAULT_FILL


def format_number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _ident(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", value)
    return cleaned if cleaned[:1].isalpha() else f"c-{cleaned}"


def _open_svg(chart_id: str, width: int, height: int, title: str, description: str) -> list[str]:
    ident = _ident(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ma-chart" id="{ident}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<title id="{ident}-title">{_text(title)}</title>',
        f'<desc id="{ident}-desc">{_text(description)}</desc>',
    ]


def _empty(chart_id: str, title: str, width: int = 480) -> Chart:
    parts = _open_svg(chart_id, width, 40, title, EMPTY_TEXT)
    parts.append(f'<text x="8" y="24" {FONT} fill="#555">{_text(EMPTY_TEXT)}</text></svg>')
    return Chart(chart_id, title, EMPTY_TEXT, "".join(parts))


def _with_unit(value: float, unit: str) -> str:
    if not unit:
        return format_number(value)
    return f"{format_number(value)}{unit}" if unit == "%" else f"{format_number(value)} {unit}"


def _describe(items: Sequence[tuple[str, float]], unit: str) -> str:
    return "; ".join(f"{label}: {_with_unit(value, unit)}" for label, value in items)


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    chart_id: str,
    title: str,
    unit: str = "",
    colors: Mapping[str, str] | None = None,
    width: int = 480,
    label_width: int = 140,
    row_height: int = 22,
) -> Chart:
    """Horizontal bars, one per (label, value), longest value spanning the plot.

    ``colors`` maps a label to its fill (the palette chart paints each bar in
    the colour it stands for); every bar is labelled with its value anyway.
    """
    items = [(str(label), float(value)) for label, value in items if value is not None and value >= 0]
    if not items:
        return _empty(chart_id, title, width)
    description = f"{title}. {_describe(items, unit)}."
    height = row_height * len(items) + 8
    plot = width - label_width - 70  # room on the right for the value label
    top = max(value for _, value in items) or 1.0
    parts = _open_svg(chart_id, width, height, title, description)
    for index, (label, value) in enumerate(items):
        y = 4 + index * row_height
        bar = 0.0 if value <= 0 else max(1.0, plot * value / top)
        fill = safe_fill((colors or {}).get(label))
        shown = _with_unit(value, unit)
        parts.append(
            f'<text x="{label_width - 6}" y="{y + row_height * 0.65:.1f}" text-anchor="end" {FONT}>'
            f"{_text(_shorten(label, 22))}</text>"
        )
        parts.append(
            f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{bar:.1f}" height="{row_height - 6}" '
            f'fill="{fill}" stroke="#333" stroke-width="0.5" data-label="{_text(label)}" data-value="{value:g}">'
            f"<title>{_text(label)}: {_text(shown)}</title></rect>"
        )
        parts.append(
            f'<text x="{label_width + bar + 4:.1f}" y="{y + row_height * 0.65:.1f}" {FONT}>{_text(shown)}</text>'
        )
    parts.append("</svg>")
    rows = [(label, _with_unit(value, unit)) for label, value in items]
    return Chart(chart_id, title, description, "".join(parts), rows)


def histogram(
    bins: Sequence[tuple[str, int]],
    *,
    chart_id: str,
    title: str,
    width: int = 480,
    height: int = 220,
) -> Chart:
    """Vertical columns over ordered bins (labels such as ``"10-50 kB"``)."""
    bins = [(str(label), int(count)) for label, count in bins]
    if not bins or not any(count for _, count in bins):
        return _empty(chart_id, title, width)
    description = f"{title}. {_describe(bins, 'media')}."
    left, bottom, top_margin = 36, 70, 18
    plot_w = width - left - 8
    plot_h = height - bottom - top_margin
    step = plot_w / len(bins)
    peak = max(count for _, count in bins) or 1
    parts = _open_svg(chart_id, width, height, title, description)
    axis_y = top_margin + plot_h
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{width - 8}" y2="{axis_y}" stroke="#333"/>')
    parts.append(f'<text x="{left - 4}" y="{top_margin + 4}" text-anchor="end" {FONT}>{format_number(peak)}</text>')
    for index, (label, count) in enumerate(bins):
        x = left + index * step
        bar_h = 0.0 if count == 0 else max(1.0, plot_h * count / peak)
        centre = x + step / 2
        parts.append(
            f'<rect class="bar" x="{x + 2:.1f}" y="{axis_y - bar_h:.1f}" width="{max(step - 4, 1):.1f}" '
            f'height="{bar_h:.1f}" fill="{DEFAULT_FILL}" data-label="{_text(label)}" data-value="{count}">'
            f"<title>{_text(label)}: {format_number(count)} media</title></rect>"
        )
        if count:
            parts.append(
                f'<text x="{centre:.1f}" y="{axis_y - bar_h - 3:.1f}" text-anchor="middle" {FONT}>'
                f"{format_number(count)}</text>"
            )
        parts.append(
            f'<text x="{centre:.1f}" y="{axis_y + 12}" text-anchor="end" {FONT} '
            f'transform="rotate(-35 {centre:.1f} {axis_y + 12})">{_text(label)}</text>'
        )
    parts.append("</svg>")
    rows = [(label, format_number(count)) for label, count in bins]
    return Chart(chart_id, title, description, "".join(parts), rows, headers=("Range", "Media"))


def heatmap(
    x_labels: Sequence[str],
    y_labels: Sequence[str],
    counts: Mapping[tuple[int, int], int],
    *,
    chart_id: str,
    title: str,
    x_title: str,
    y_title: str,
    cell: int = 40,
) -> Chart:
    """A binned scatter: ``counts[(x, y)]`` media fall in column x and row y.

    Darker means more, on a log scale so a few huge bins do not hide the rest;
    every non-empty cell also prints its count.
    """
    cells = {(int(x), int(y)): int(n) for (x, y), n in counts.items() if n > 0}
    if not cells:
        return _empty(chart_id, title)
    left, top, bottom = 78, 8, 74
    width = left + cell * len(x_labels) + 8
    height = top + cell * len(y_labels) + bottom
    peak = max(cells.values())
    listing = [
        (f"{x_title} {x_labels[x]}, {y_title} {y_labels[y]}", n)
        for (x, y), n in sorted(cells.items(), key=lambda item: (-item[1], item[0]))
    ]
    description = f"{title}. {_describe(listing, 'media')}."
    parts = _open_svg(chart_id, width, height, title, description)
    for y_index, y_label in enumerate(y_labels):
        # The first row is drawn at the bottom, as on a plot's y axis.
        y = top + cell * (len(y_labels) - 1 - y_index)
        parts.append(
            f'<text x="{left - 4}" y="{y + cell / 2 + 4:.1f}" text-anchor="end" {FONT}>{_text(y_label)}</text>'
        )
        for x_index in range(len(x_labels)):
            x = left + cell * x_index
            n = cells.get((x_index, y_index), 0)
            shade = 0.0 if n == 0 else 0.15 + 0.85 * math.log1p(n) / math.log1p(peak)
            parts.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{DEFAULT_FILL}" '
                f'fill-opacity="{shade:.2f}" stroke="#ccc" data-x="{x_index}" data-y="{y_index}" data-value="{n}">'
                f"<title>{_text(x_labels[x_index])} x {_text(y_label)}: {n} media</title></rect>"
            )
            if n:
                color = "#fff" if shade > 0.55 else "#000"
                parts.append(
                    f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle" {FONT} '
                    f'fill="{color}">{format_number(n)}</text>'
                )
    axis_y = top + cell * len(y_labels)
    for x_index, x_label in enumerate(x_labels):
        centre = left + cell * x_index + cell / 2
        parts.append(
            f'<text x="{centre}" y="{axis_y + 12}" text-anchor="end" {FONT} '
            f'transform="rotate(-35 {centre} {axis_y + 12})">{_text(x_label)}</text>'
        )
    parts.append(
        f'<text x="{left + cell * len(x_labels) / 2}" y="{height - 4}" text-anchor="middle" {FONT}>'
        f"{_text(x_title)} (px)</text>"
    )
    parts.append(
        f'<text x="10" y="{top + cell * len(y_labels) / 2}" text-anchor="middle" {FONT} '
        f'transform="rotate(-90 10 {top + cell * len(y_labels) / 2})">{_text(y_title)} (px)</text>'
    )
    parts.append("</svg>")
    rows = [(label, format_number(n)) for label, n in listing]
    return Chart(chart_id, title, description, "".join(parts), rows, headers=("Bin", "Media"))


def palette_chart(shares: Sequence[tuple[str, float]], *, chart_id: str, title: str) -> Chart:
    """The land's palette: one bar per web-safe colour, painted in it, labelled with its hex."""
    items = [(hex_value, round(share, 1)) for hex_value, share in shares]
    return bar_chart(
        items,
        chart_id=chart_id,
        title=title,
        unit="%",
        colors={hex_value: hex_value for hex_value, _ in items},
        label_width=80,
    )


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "\u2026"


# Marks of the timeline: how a date is known is told by the shape, not by colour alone.
TIMELINE_MARKS = {"published": "filled circle", "fetched": "hollow circle", "crawled": "hollow square"}


def _timeline_mark(source: str, x: float, y: float, tip: str) -> str:
    title = f"<title>{_text(tip)}</title>"
    if source == "published":
        return f'<circle class="mark published" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{DEFAULT_FILL}">{title}</circle>'
    if source == "fetched":
        return (
            f'<circle class="mark fetched" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="white" stroke="{DEFAULT_FILL}" '
            f'stroke-width="1.5">{title}</circle>'
        )
    return (
        f'<rect class="mark crawled" x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="white" '
        f'stroke="#777" stroke-width="1.5">{title}</rect>'
    )


def timeline_chart(
    appearances: Sequence[tuple[str, datetime | None, str]],
    *,
    chart_id: str,
    title: str,
    max_domains: int = 25,
    width: int = 760,
    label_width: int = 170,
    row_height: int = 18,
) -> Chart:
    """Appearances by date, one row per domain in order of first appearance.

    ``appearances`` are (domain, date, source) with source "published", "fetched" or
    "crawled": a publication date is a filled circle, a fetch date a hollow one, a crawl
    date a square. Undated appearances and domains past ``max_domains`` are counted in
    the description rather than drawn.
    """
    dated = [(str(domain), when, source) for domain, when, source in appearances if when is not None]
    if not dated:
        return _empty(chart_id, title, width)
    order: list[str] = []
    per_domain: dict[str, list[tuple[datetime, str]]] = {}
    for domain, when, source in sorted(dated, key=lambda item: (item[1], item[0])):
        if domain not in per_domain:
            order.append(domain)
            per_domain[domain] = []
        per_domain[domain].append((when, source))
    drawn, hidden = order[:max_domains], order[max_domains:]
    start, end = min(w for _, w, _ in dated), max(w for _, w, _ in dated)
    span = (end - start).total_seconds() or 1.0
    plot = width - label_width - 20
    height = row_height * len(drawn) + 44
    counts = {source: sum(1 for _, _, s in dated if s == source) for source in TIMELINE_MARKS}
    notes = [f"{counts[s]} {s} ({TIMELINE_MARKS[s]})" for s in TIMELINE_MARKS if counts[s]]
    description = (
        f"{title}. {len(dated)} dated appearances on {len(order)} domains from {start:%Y-%m-%d} to {end:%Y-%m-%d}: "
        + ", ".join(notes)
        + "."
    )
    undated = len(appearances) - len(dated)
    if undated:
        description += f" {undated} without a date, not drawn."
    if hidden:
        description += f" {len(hidden)} more domains not drawn (the {len(drawn)} first seen are)."
    parts = _open_svg(chart_id, width, height, title, description)
    for index, domain in enumerate(drawn):
        y = 8 + index * row_height + row_height / 2
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{_text(_shorten(domain, 26))}</text>'
        )
        parts.append(f'<line x1="{label_width}" x2="{label_width + plot}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd" />')
        for when, source in per_domain[domain]:
            x = label_width + plot * (when - start).total_seconds() / span
            parts.append(_timeline_mark(source, x, y, f"{domain}: {when:%Y-%m-%d %H:%M} ({source})"))
    axis = 8 + len(drawn) * row_height + 14
    parts.append(f'<text x="{label_width}" y="{axis}" {FONT}>{start:%Y-%m-%d}</text>')
    parts.append(f'<text x="{label_width + plot}" y="{axis}" text-anchor="end" {FONT}>{end:%Y-%m-%d}</text>')
    legend = "Filled circle: published; hollow circle: fetched; square: crawled."
    parts.append(f'<text x="{label_width}" y="{axis + 16}" {FONT} fill="#555">{_text(legend)}</text>')
    parts.append("</svg>")
    rows = [
        (
            domain,
            ", ".join(
                f"{sum(1 for _, s in per_domain[domain] if s == source)} {source}"
                for source in TIMELINE_MARKS
                if any(s == source for _, s in per_domain[domain])
            )
            + f"; first {per_domain[domain][0][0]:%Y-%m-%d}",
        )
        for domain in order
    ]
    return Chart(chart_id, title, description, "".join(parts), rows, headers=("Domain", "Appearances"))
