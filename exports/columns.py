"""Column lists of the exports, and the small pure functions that render analysis fields.

The crawler's column lists are pinned verbatim (researchers' scripts read them
by name). ``MEDIA_COLUMNS`` is a registry: a later feature adds its own column
with ``register_media_column`` without touching the export code.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exports.writers import csv_header

if TYPE_CHECKING:
    from django.db.models import QuerySet

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


# --- Colours rendered from their stored JSON text ------------------------------------------------------
#
# A media CSV renders the colour columns of every row. Decoding each value into lists and dicts and walking
# them in Python costs more than the rest of the row, while the analysis and the importer store one shape:
# ``[{"rgb": [r, g, b], "hex": "#rrggbb", "percentage": p}]`` and ``{"#rrggbb": p}`` as Django's JSON
# encoder writes them (PostgreSQL's jsonb gives the keys of an entry in its own order). A column of such
# texts is checked with one match over the joined texts and its cells are made by substitutions on the
# joined text. A share is taken over only when its digits are those Python writes for the number
# (``repr`` of the float, with ``.0`` after a whole number); anything else is left to the decoded value
# and ``dominant_hexes``, ``dominant_shares`` and ``top_websafe``, so the cells are the same either way.

# A share in percent written as Python writes the float: at most fifteen digits, no trailing zero, not below
# 1e-4 (written with an exponent).
_SHARE = r"(?:[1-9][0-9]{0,2}(?:\.(?:0|[0-9]{0,11}[1-9]))?|0(?:\.(?:0|(?!0000)[0-9]{0,11}[1-9]))?)"
_HEX = "#[0-9a-f]{6}"
_RGB = r"\[[0-9]{1,3}, [0-9]{1,3}, [0-9]{1,3}\]"


def _entry(hex_value: str = _HEX, share: str = _SHARE) -> str:
    return (
        rf'\{{"rgb": {_RGB}, "hex": "{hex_value}", "percentage": {share}\}}'
        rf'|\{{"hex": "{hex_value}", "rgb": {_RGB}, "percentage": {share}\}}'
    )


_DOMINANT = rf"\[(?:(?:{_entry()})(?:, (?:{_entry()}))*)?\]"
_WEBSAFE = rf'\{{(?:"{_HEX}": {_SHARE}(?:, "{_HEX}": {_SHARE})*)?\}}'
# In texts of the shape, what surrounds an entry's quoted hex, and what surrounds its share. The
# replacements are plain text, which the re module makes without a Python call per match.
_AROUND_HEX = re.compile(
    r'\{"rgb": \[[^\]]*\], "hex": |, "percentage": [^}]*\}|\{"hex": |, "rgb": \[[^\]]*\], "percentage": [^}]*\}'
)
_AROUND_SHARE = re.compile(
    rf'\{{"rgb": \[[^\]]*\], "hex": "{_HEX}", "percentage": |\{{"hex": "{_HEX}", "rgb": \[[^\]]*\], "percentage": |\}}'
)
# The brace closing an entry whose share is a whole number (its float is written with ".0"); the pattern
# starts with the brace so that the search skips to braces.
_WHOLE_SHARE_END = re.compile(r'\}(?:(?<=": [0-9]\})|(?<=": [1-9][0-9]\})|(?<=": [1-9][0-9][0-9]\}))')


@dataclass(frozen=True)
class _JsonShape:
    one: re.Pattern[str]
    column: re.Pattern[str]  # texts joined by newlines, NULLs as empty lines
    # The last column checked in this thread, as (its texts, joined, whether in the shape): the hexes and the
    # shares of the dominant colours are two columns of one source, each chunk's texts checked once.
    last: threading.local

    @classmethod
    def of(cls, pattern: str) -> _JsonShape:
        return cls(re.compile(pattern), re.compile(f"(?:{pattern})?(?:\n(?:{pattern})?)*"), threading.local())

    def joined_in_shape(self, texts: Sequence[Any]) -> str | None:
        """The texts joined by newlines (NULLs as empty lines) when the column is in the shape, else None
        (also when a value is not text). A column equal to the last one checked is not checked again."""
        current = list(texts)
        last = getattr(self.last, "column", None)
        if last is not None and last[0] == current:
            return last[1] if last[2] else None
        try:
            joined: str | None = "\n".join(["" if text is None else text for text in current])
        except TypeError:  # not text: the driver decoded the value itself
            joined = None
        matched = joined is not None and self.column.fullmatch(joined) is not None
        self.last.column = (current, joined, matched)
        return joined if matched else None


_DOMINANT_SHAPE = _JsonShape.of(_DOMINANT)
_WEBSAFE_SHAPE = _JsonShape.of(_WEBSAFE)


def _json_cells(
    texts: Sequence[Any], shape: _JsonShape, rewrite: Callable[[Sequence[Any], str], list[Any]]
) -> tuple[list[Any], list[int]]:
    """Cells of a column of stored JSON texts (None for NULL), and the positions of the texts not in
    ``shape``, whose cells are left None here, to be rendered from the decoded value. ``rewrite`` turns a
    column of texts of the shape (or NULLs), given also joined by newlines, into their cells (an empty
    cell, or None, for NULL: the renders give None for it)."""
    joined = shape.joined_in_shape(texts)
    if joined is not None:
        cells = rewrite(texts, joined)
        # A text holding a newline would have been taken for two.
        if len(cells) == len(texts):
            return cells, []
    out: list[Any] = []
    left: list[int] = []
    for at, text in enumerate(texts):
        if text is None:
            out.append(None)
        elif text.__class__ is str and shape.one.fullmatch(text):
            out.append(rewrite([text], text)[0])
        else:
            out.append(None)
            left.append(at)
    return out, left


def _hexes_of_joined(texts: Sequence[Any], joined: str) -> list[str]:
    return _AROUND_HEX.sub("", joined).replace('", "', '","').split("\n")


def _shares_of_joined(texts: Sequence[Any], joined: str) -> list[str]:
    return _AROUND_SHARE.sub("", _WHOLE_SHARE_END.sub(".0}", joined)).replace(", ", ",").split("\n")


def _top_websafe_of_joined(texts: Sequence[Any], joined: str) -> list[str | None]:
    # Each text is a JSON object (or empty, like NULL): the column is decoded as one array, in one call.
    try:
        maps = json.loads(f"[{','.join([text or 'null' for text in texts])}]")
    except ValueError:  # a text holding a newline, taken for two: no cells, the caller goes text by text
        return []
    return [max(shares, key=shares.__getitem__) if shares else None for shares in maps]


def dominant_hexes_cells(texts: Sequence[Any]) -> tuple[list[Any], list[int]]:
    """The CSV cells of ``dominant_hexes`` for stored JSON texts (see ``_json_cells``)."""
    return _json_cells(texts, _DOMINANT_SHAPE, _hexes_of_joined)


def dominant_shares_cells(texts: Sequence[Any]) -> tuple[list[Any], list[int]]:
    """The CSV cells of ``dominant_shares`` for stored JSON texts (see ``_json_cells``)."""
    return _json_cells(texts, _DOMINANT_SHAPE, _shares_of_joined)


def top_websafe_cells(texts: Sequence[Any]) -> tuple[list[Any], list[int]]:
    """The CSV cells of ``top_websafe`` for stored JSON texts (see ``_json_cells``)."""
    return _json_cells(texts, _WEBSAFE_SHAPE, _top_websafe_of_joined)


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
    # Cells of a whole column of the single source's stored JSON text, and the positions it leaves to
    # ``render`` (which then receives the decoded value): the media CSV's fast path for JSON sources.
    render_json: Callable[[Sequence[Any]], tuple[list[Any], list[int]]] | None = None

    def value(self, *values: Any) -> Any:
        return self.render(*values) if self.render else values[0]


def _field(name: str, source: str | None = None) -> MediaColumn:
    return MediaColumn(name, (source or name,))


def _value(
    name: str,
    render: Callable[..., Any] | None = None,
    source: str | None = None,
    render_json: Callable[[Sequence[Any]], tuple[list[Any], list[int]]] | None = None,
) -> MediaColumn:
    return MediaColumn(name, (source or name,), render, analysis_value=True, render_json=render_json)


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
    _value("dominant_colors", dominant_hexes, render_json=dominant_hexes_cells),
    _value("dominant_color_shares", dominant_shares, "dominant_colors", dominant_shares_cells),
    _value("websafe_color", top_websafe, "websafe_colors", top_websafe_cells),
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


@dataclass(frozen=True)
class MediaCsvSources:
    """What the media CSV reads for its columns (``media_query_plan`` with the status after them), and how."""

    paths: tuple[str, ...]
    positions: list[tuple[int, ...]]  # each column's sources
    status: int  # the source of the analysis status
    cells: frozenset[int]  # sources written as they are, read as CSV cells
    json: frozenset[int]  # sources of a ``render_json`` column, read as their stored text
    decoded: frozenset[int]  # JSON sources another column reads as values too

    @classmethod
    def of(cls, columns: Sequence[MediaColumn]) -> MediaCsvSources:
        paths, positions = media_query_plan([*columns, MediaColumn("_status", ("analysis_status",))])
        status = positions.pop()[0]
        pairs = list(zip(columns, positions, strict=True))
        # A source is read as values when a render takes it, as CSV cells when it is written as it is.
        rendered = {index for column, indexes in pairs if column.render for index in indexes}
        direct = {indexes[0] for column, indexes in pairs if column.render is None}
        json_sources = {indexes[0] for column, indexes in pairs if column.render_json is not None} - {status}
        read_as_values = {index for column, indexes in pairs if column.render_json is None for index in indexes}
        return cls(
            paths,
            positions,
            status,
            frozenset(direct - rendered - {status}),
            frozenset(json_sources),
            frozenset(json_sources & read_as_values),
        )


class MediaCsvLines:
    """What a path that writes the media CSV of a queryset a chunk at a time is given, and its header."""

    def __init__(
        self, queryset: QuerySet, columns: Sequence[MediaColumn], *, raw: bool, stale_values: bool, chunk_size: int
    ) -> None:
        self.queryset = queryset
        self.columns = list(columns)
        self.raw = raw
        self.stale_values = stale_values
        self.chunk_size = chunk_size

    def header(self) -> str:
        return csv_header(column.name for column in self.columns)
