"""HTML fragments that show a media: a lazy thumbnail and colour swatches.

The builders are plain functions the admin pages call directly. Every value
that comes from a crawled page is untrusted, so everything goes through
``format_html``; colours are additionally checked against a strict pattern
because they end up inside a ``style`` attribute, where escaping alone does
not stop CSS injection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

THUMBNAIL_SIZE = 64
SWATCH_SIZE = 16
MAX_SWATCHES = 16

register = template.Library()

_HEX_RE = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")
_PERCENT_KEYS = ("percentage", "percent")
_FRACTION_KEYS = ("ratio", "share", "proportion")


def normalise_hex(value: Any) -> str | None:
    """``#rrggbb`` in lower case, or None when ``value`` is not a hex colour."""
    if not isinstance(value, str):
        return None
    match = _HEX_RE.fullmatch(value.strip())
    if not match:
        return None
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return f"#{digits}"


def _rgb_to_hex(value: Any) -> str | None:
    if not isinstance(value, list | tuple) or len(value) < 3:
        return None
    try:
        channels = [int(c) for c in value[:3]]
    except (TypeError, ValueError):
        return None
    if any(c < 0 or c > 255 for c in channels):
        return None
    return "#{:02x}{:02x}{:02x}".format(*channels)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _percent(entry: dict[str, Any]) -> float | None:
    """The colour's share of the image in percent, whether stored as a percentage or a fraction."""
    for key in _PERCENT_KEYS:
        if (value := _number(entry.get(key))) is not None:
            return value
    for key in _FRACTION_KEYS:
        if (value := _number(entry.get(key))) is not None:
            return value * 100
    return None


def parse_colors(value: Any) -> list[tuple[str, float | None]]:
    """(hex, percent) pairs from whatever shape a colour list was stored in.

    The analysis writes a list of ``{"hex": ..., "percentage": ...}`` dicts, but
    imported lands may hold plain hex strings, RGB triples or a ``{hex: percentage}``
    mapping; anything unrecognisable is dropped rather than rendered.
    """
    entries: Iterable[Any]
    if isinstance(value, dict):
        entries = [{"hex": key, "percentage": percent} for key, percent in value.items()]
    elif isinstance(value, list | tuple):
        entries = value
    else:
        return []
    colors: list[tuple[str, float | None]] = []
    for entry in entries:
        if isinstance(entry, dict):
            hex_value = normalise_hex(entry.get("hex")) or _rgb_to_hex(entry.get("rgb"))
            percent = _percent(entry)
        else:
            hex_value = normalise_hex(entry) or _rgb_to_hex(entry)
            percent = None
        if hex_value:
            colors.append((hex_value, percent))
    return colors


def _percent_label(percent: float | None) -> str:
    return "" if percent is None else f" ({percent:.1f}%)"


_BOX = (
    '<span class="swatch" title="{hex}{label}" style="display:inline-block;width:{size}px;height:{size}px;'
    'background:{hex};border:1px solid #888;vertical-align:middle;margin-right:2px"></span>'
)
_BOX_WITH_TEXT = '<span class="swatch-item" style="margin-right:8px">' + _BOX + "<code>{hex}</code>{label}</span>"


def swatches_html(value: Any, *, with_text: bool = False) -> SafeString:
    """Small coloured boxes, each titled with its hex so it is readable without colour.

    ``with_text`` also prints the hex and share next to each box (change pages).
    """
    colors = parse_colors(value)[:MAX_SWATCHES]
    if not colors:
        return format_html("{}", "-")
    template = _BOX_WITH_TEXT if with_text else _BOX
    boxes = format_html_join(
        "",
        template,
        ({"hex": hex_value, "label": _percent_label(percent), "size": SWATCH_SIZE} for hex_value, percent in colors),
    )
    return format_html('<span class="swatches">{}</span>', boxes)


@register.filter
def http_url(url: str | None) -> str | None:
    """The URL if a page may load or link it: http or https only, never javascript:, data: or relative URLs.

    The one rule for every crawled URL the admin pages put in a ``src`` or an ``href``.
    """
    if not isinstance(url, str):
        return None
    return url if url.lower().startswith(("http://", "https://")) else None


def thumbnail_html(url: str | None, *, size: int = THUMBNAIL_SIZE) -> SafeString:
    """A lazy thumbnail of the original URL; the referrer is withheld from the hosting site."""
    url = http_url(url)
    if url is None:
        return format_html("{}", "-")
    return format_html(
        '<img src="{}" alt="" loading="lazy" referrerpolicy="no-referrer" width="{}" height="{}" '
        'style="object-fit:contain;background:#eee">',
        url,
        size,
        size,
    )
