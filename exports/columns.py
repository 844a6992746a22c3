"""Column lists of the exports, and the small pure functions that render analysis fields.

The crawler's column lists are pinned verbatim (researchers' scripts read them
by name). ``MEDIA_COLUMNS`` is a registry: a later feature adds its own column
with ``register_media_column`` without touching the export code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# --- The crawler's lists, in its order -----------------------------------------

PAGE_CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "url",
    "title",
    "description",
    "keywords",
    "relevance",
    "depth",
    "domain_id",
    "domain_name",
    "domain_description",
    "domain_keywords",
    "tags",
)

FULLPAGE_CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "url",
    "title",
    "description",
    "keywords",
    "readable",
    "relevance",
    "depth",
    "domain_id",
    "domain_name",
    "domain_description",
    "domain_keywords",
    "tags",
)

NODE_CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "title",
    "description",
    "keywords",
    "expressions",
    "average_relevance",
)

# Appended to the page exports on request (``dates``), after the crawler's columns so scripts that read them by
# position keep working.
PAGE_DATE_COLUMNS: tuple[str, ...] = ("published_at", "fetched_at")

# GEXF node attributes as the crawler declared them (title, type); domain_id is a
# string there on purpose: Gephi then offers it as a partition, not a ranking.
PAGE_GEXF_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("title", "string"),
    ("description", "string"),
    ("keywords", "string"),
    ("domain_id", "string"),
    ("relevance", "integer"),
    ("depth", "integer"),
)

NODE_GEXF_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("title", "string"),
    ("description", "string"),
    ("keywords", "string"),
    ("expressions", "integer"),
    ("average_relevance", "float"),
)

# --- Colours -------------------------------------------------------------------

# The analysis stores [{"rgb": [r, g, b], "hex": "#rrggbb", "percentage": p}] and
# {"#rrggbb": percentage} for web-safe colours; imported lands may hold other
# spellings. Shares are always exported in percent (0-100).
_PERCENT_KEYS = ("percentage", "percent")
_FRACTION_KEYS = ("ratio", "share", "proportion", "fraction")


def _hex_of(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry.lower() if entry.startswith("#") else None
    rgb: Any = entry
    if isinstance(entry, dict):
        if isinstance(entry.get("hex"), str):
            return entry["hex"].lower()
        rgb = entry.get("rgb")
    if isinstance(rgb, list | tuple) and len(rgb) >= 3:
        try:
            r, g, b = (max(0, min(255, int(c))) for c in rgb[:3])
        except (TypeError, ValueError):
            return None
        return f"#{r:02x}{g:02x}{b:02x}"
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _share_of(entry: Any) -> float | None:
    """The colour's share of the image in percent, whether stored as a percentage or a fraction."""
    if not isinstance(entry, dict):
        return None
    for key in _PERCENT_KEYS:
        if (value := _number(entry.get(key))) is not None:
            return value
    for key in _FRACTION_KEYS:
        if (value := _number(entry.get(key))) is not None:
            return round(value * 100, 4)
    return None


def dominant_hexes(dominant_colors: Any) -> list[str] | None:
    """The dominant colours as '#rrggbb', most dominant first; None when never analysed."""
    if not isinstance(dominant_colors, list):
        return None
    return [hex_value for hex_value in map(_hex_of, dominant_colors) if hex_value]


def dominant_shares(dominant_colors: Any) -> list[float | None] | None:
    """The share of each dominant colour in percent, aligned with ``dominant_hexes``."""
    if not isinstance(dominant_colors, list):
        return None
    return [_share_of(entry) for entry in dominant_colors if _hex_of(entry)]


def primary_color(dominant_colors: Any) -> tuple[str | None, float | None]:
    if not isinstance(dominant_colors, list):
        return None, None
    for entry in dominant_colors:
        hex_value = _hex_of(entry)
        if hex_value:
            return hex_value, _share_of(entry)
    return None, None


def top_websafe(websafe_colors: Any) -> str | None:
    """The web-safe colour with the largest share (a {hex: share} map or a list of colours)."""
    if isinstance(websafe_colors, dict):
        shares = {
            key.lower(): value
            for key, value in websafe_colors.items()
            if isinstance(key, str) and _number(value) is not None
        }
        return max(shares, key=lambda key: shares[key]) if shares else None
    if isinstance(websafe_colors, list):
        best_hex, best_share = None, None
        for entry in websafe_colors:
            hex_value, share = _hex_of(entry), _share_of(entry)
            if hex_value is None:
                continue
            if best_hex is None or (share is not None and (best_share is None or share > best_share)):
                best_hex, best_share = hex_value, share
        return best_hex
    return None


def thumbnail_file(key: Any) -> str | None:
    """The file name of a stored thumbnail's key (``thumbnails/<size>/ab/cd/<sha256>.<ext>``)."""
    return key.rsplit("/", 1)[-1] if isinstance(key, str) and key else None


# --- The media CSV registry ----------------------------------------------------


@dataclass(frozen=True)
class MediaColumn:
    """One column of ``mediacsv``: the ORM paths it reads and how it renders them.

    ``sources`` are ``values_list`` paths from Media (``"expression__depth"`` works);
    ``render`` receives their values in that order. Without ``render`` the single
    source's value is written as is. ``analysis_value`` columns hold what an
    analysis computed: by default they are written only for media whose latest
    attempt succeeded (see ``ExportOptions.stale_values``).
    """

    name: str
    sources: tuple[str, ...]
    render: Callable[..., Any] | None = None
    analysis_value: bool = False

    def value(self, *values: Any) -> Any:
        return self.render(*values) if self.render else values[0]


def _field(name: str, source: str | None = None) -> MediaColumn:
    return MediaColumn(name, (source or name,))


def _value(name: str, render: Callable[..., Any] | None = None, source: str | None = None) -> MediaColumn:
    return MediaColumn(name, (source or name,), render, analysis_value=True)


MEDIA_COLUMNS: list[MediaColumn] = [
    # The crawler's four, first and unchanged.
    _field("id"),
    _field("expression_id"),
    _field("url"),
    _field("type"),
    _field("status", "analysis_status"),
    _value("width"),
    _value("height"),
    _value("file_size"),
    _value("format"),
    _value("color_mode"),
    _value("mime_type"),
    _value("has_transparency"),
    _value("aspect_ratio"),
    _value("frames"),
    _value("duration"),
    _value("image_hash"),
    _value("phash"),
    _value("dhash"),
    _value("ahash"),
    _value("colorhash"),
    _value("cluster_id"),  # the near-duplicate cluster (ImageCluster id), empty for a lone image
    _value("dominant_colors", dominant_hexes),
    _value("dominant_color_shares", dominant_shares, "dominant_colors"),
    _value("websafe_color", top_websafe, "websafe_colors"),
    _value("exif_make"),
    _value("exif_model"),
    _value("exif_datetime"),
    _value("gps_latitude"),
    _value("gps_longitude"),
    _value("is_conforming"),
    _value("conformity_reason"),
    _field("analyzed_at"),
    _value("analysis_version"),
    _value("values_at"),
    _value("checked_at"),
    _field("error_class"),
    _field("analysis_error"),
    _field("domain", "expression__domain__name"),
    _field("depth", "expression__depth"),
    _field("relevance", "expression__relevance"),
    # The page's own context, so a media row stands alone in another tool.
    _field("page_url", "expression__url"),
    _field("page_published_at", "expression__published_at"),
    _field("page_fetched_at", "expression__fetched_at"),
    # The stored preview: its key in the medianalyse storage (and the path of the file in a dataset archive), and
    # the file's name, the SHA-256 of the original bytes with the preview's extension.
    _value("thumbnail_key"),
    _value("thumbnail_file", thumbnail_file, "thumbnail_key"),
    # The archived original (MEDIA_ANALYSIS_ARCHIVE_ORIGINALS, archive_originals): its key, also its path in a
    # dataset archive; the file is the downloaded bytes, named by their SHA-256.
    _value("original_key"),
    # The text read in the picture (OCR), from its latest recognition; empty for a media never read.
    # Not analysis values: the OCR status says by itself what the text is.
    _field("ocr_status", "ocr__status"),
    _field("ocr_text", "ocr__text"),
    _field("ocr_language", "ocr__language"),
    _field("ocr_confidence", "ocr__confidence"),
    _field("ocr_text_area", "ocr__text_area"),
]


def register_media_column(column: MediaColumn, *, after: str | None = None) -> None:
    """Add a column to ``mediacsv`` (at the end, or right after the column named ``after``).

    A near-duplicate cluster feature would call, once at app start-up:
    ``register_media_column(MediaColumn("cluster_id", ("cluster_id",)), after="colorhash")``.
    """
    names = [existing.name for existing in MEDIA_COLUMNS]
    if column.name in names:
        raise ValueError(f"mediacsv already has a {column.name!r} column")
    position = names.index(after) + 1 if after is not None else len(MEDIA_COLUMNS)
    MEDIA_COLUMNS.insert(position, column)


def media_query_plan(columns: Sequence[MediaColumn]) -> tuple[tuple[str, ...], list[tuple[int, ...]]]:
    """The distinct ORM paths to select once, and for each column the positions of its sources."""
    paths: list[str] = []
    positions: list[tuple[int, ...]] = []
    for column in columns:
        indexes = []
        for source in column.sources:
            if source not in paths:
                paths.append(source)
            indexes.append(paths.index(source))
        positions.append(tuple(indexes))
    return tuple(paths), positions
