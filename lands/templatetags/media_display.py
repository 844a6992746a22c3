"""HTML fragments that show a media: its stored thumbnail (or why there is none) and colour swatches.

The builders are plain functions the admin pages call directly. Every value
that comes from a crawled page is untrusted, so everything goes through
``format_html``; colours are additionally checked against a strict pattern
because they end up inside a ``style`` attribute, where escaping alone does
not stop CSS injection. No page loads a crawled URL: an image is shown from its
stored thumbnail only (``media_analysis.stored``), and the original URL is a link.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from lands.models import AnalysisStatus, MediaType
from media_analysis.stored import thumbnail_url

THUMBNAIL_SIZE = 64
# Why an image has no stored thumbnail, by the error class of its latest attempt.
_FAILURE_REASONS = {
    "too_large": "refused: too large",
    "decompression_bomb": "refused: too many pixels",
    "too_complex": "refused: too complex",
    "unsupported_format": "refused: unsupported format",
    "refused_address": "refused: private address",
    "unsupported_scheme": "refused: not a web address",
    "invalid_url": "refused: invalid URL",
    "not_an_image": "failed: not an image",
    "corrupt_image": "failed: corrupt image",
    "analysis_timeout": "failed: analysis timed out",
    "network": "failed: download",
    "timeout": "failed: download timed out",
    "http_status": "failed: HTTP error",
    "too_many_redirects": "failed: too many redirects",
}
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


def preview_reason(media: Any) -> str:
    """Why ``media`` shows no picture: a short phrase for the placeholder."""
    if media.type != MediaType.IMAGE:
        return f"{media.get_type_display()}: no preview"
    if media.error_class:
        return _FAILURE_REASONS.get(media.error_class, f"failed: {media.error_class}")
    if media.analysis_status == AnalysisStatus.PENDING:
        return "not analysed yet"
    return "no stored preview"  # analysed before thumbnails were kept, or imported


def media_preview_html(media: Any, *, size: int = THUMBNAIL_SIZE) -> SafeString:
    """The media's stored thumbnail, or a placeholder saying why there is none; never the crawled URL."""
    src = thumbnail_url(media.thumbnail_key) if media.type == MediaType.IMAGE else None
    if src:
        return format_html(
            '<img src="{}" alt="Media {}" loading="lazy" referrerpolicy="no-referrer" width="{}" height="{}" '
            'class="ma-stored" '
            'style="object-fit:contain;background:#eee">',
            src,
            media.pk,
            size,
            size,
        )
    return format_html(
        '<span class="ma-placeholder" style="display:inline-flex;align-items:center;justify-content:center;'
        "width:{}px;height:{}px;box-sizing:border-box;padding:2px;border:1px dashed #999;background:#f4f4f4;"
        'color:#555;font-size:11px;line-height:1.2;text-align:center;overflow:hidden">{}</span>',
        size,
        size,
        preview_reason(media),
    )


@register.simple_tag
def media_preview(media: Any, size: int = THUMBNAIL_SIZE) -> SafeString:
    return media_preview_html(media, size=size)


def original_link_html(url: str | None, text: str = "original") -> SafeString:
    """A link to the crawled file for whoever chooses to open it; nothing unless an http or https URL."""
    href = http_url(url)
    if href is None:
        return format_html("{}", "")
    return format_html('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>', href, text)


@register.simple_tag
def original_link(url: str | None, text: str = "original") -> SafeString:
    return original_link_html(url, text)
