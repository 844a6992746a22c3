"""The media CSV joined from columns of cells (SQLite's path) gives the bytes of the row-by-row path."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection

from exports import services
from exports.columnlines import ColumnLines, cell_texts, value_texts
from exports.columns import MEDIA_COLUMNS, MediaColumn, MediaCsvSources
from exports.services import ExportCounts, media_of, produce_mediacsv, produce_mediacsv_by_rows
from exports.writers import csv_cells
from lands.models import AnalysisStatus, Media
from tests.factories import make_media

# Values a column may hand to the csv writer, and values a driver may give.
CELLS = [None, "", 0, -1, 10**20, 0.1, -0.0, 1e16, math.inf, math.nan, "plain", 'a "quoted" one', '"', "x\r\ny"]
VALUES = [
    *CELLS,
    True,
    False,
    "=1+1",
    "-3",
    "-x",
    "@me",
    "\ttab",
    "\rcr",
    "nul\x00inside",
    "\x00=",
    "é 😀",
    b"bytes",
    Decimal("1.50"),
    date(2024, 2, 29),
    datetime(2024, 2, 29, 1, 2, 3, 4, tzinfo=UTC),
    [1, "a"],
    {"k": None},
]


def _written(cells) -> list[str]:
    """What the csv writer puts between the quotes of each cell (QUOTE_ALL)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    texts = []
    for cell in cells:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([cell])
        texts.append(buffer.getvalue()[1:-3])
    return texts


def _texts(texts, count: int) -> list[str]:
    """The texts as the line's template writes them (``%s``: numbers kept as numbers become their ``str``)."""
    return [""] * count if texts is None else ["%s" % (text,) for text in texts]  # noqa: UP031 (as the template)


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("start", range(len(VALUES)))
def test_value_texts_are_what_the_writer_writes_of_csv_cells(raw, start):
    # Every value next to each other kind, in columns of one type and of mixed types.
    mixed = VALUES[start:] + VALUES[:start]
    for values in (mixed, mixed[:2], [mixed[0]] * 3, [None, mixed[0], None], (mixed[0], mixed[-1])):
        cells = csv_cells(list(values), raw=raw)
        assert _texts(value_texts(values, raw), len(values)) == _written(cells)
        assert _texts(cell_texts(list(cells)), len(cells)) == _written(cells)


def test_columns_of_one_kind_keep_their_fast_path_and_their_bytes():
    for values in ([1, None, 3], [0.5, None], ["a", None, "b"], ["a", 'b"c'], ["-1", "x"], [None, None]):
        for raw in (False, True):
            assert _texts(value_texts(values, raw), len(values)) == _written(csv_cells(values, raw=raw))
    assert value_texts([None, None], False) is None
    assert cell_texts([None]) is None
    numbers = [1, 2.5]
    assert value_texts(numbers, False) is numbers


def _column_lines(land, chunk_size: int, **params) -> tuple[bytes, bytes, int]:
    options = services.prepare_export(land, "mediacsv", minrel=0, **params).options
    counts = ExportCounts()

    def add(rows: int) -> None:
        counts.records += rows

    lines = ColumnLines(
        media_of(land, options), services.MEDIA_COLUMNS, raw=options.raw, stale_values=options.stale_values,
        chunk_size=chunk_size,
    )  # fmt: skip
    fast = b"".join(lines.stream(add))
    reference = b"".join(produce_mediacsv_by_rows(land, options, ExportCounts()))
    return fast, reference, counts.records


@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
@pytest.mark.parametrize("params", [{}, {"stale_values": True}, {"raw": True}, {"depth": 1}])
def test_column_lines_are_the_row_by_row_bytes(awkward, monkeypatch, chunk_size, params):
    # On both databases, whatever the chunks (columns empty in some chunks and not in others).
    monkeypatch.setattr(services, "CHUNK_SIZE", chunk_size)
    fast, reference, records = _column_lines(awkward.land, chunk_size, **params)
    assert fast == reference
    options = services.prepare_export(awkward.land, "mediacsv", minrel=0, **params).options
    assert records == media_of(awkward.land, options).count()
    assert records > 20


def test_sqlite_exports_take_the_column_lines(awkward, monkeypatch):
    monkeypatch.setattr(services, "CHUNK_SIZE", 4)
    options = services.prepare_export(awkward.land, "mediacsv", minrel=0).options
    reference = b"".join(produce_mediacsv_by_rows(awkward.land, options, ExportCounts()))

    def refused(*args, **kwargs):
        raise AssertionError("the row-by-row path was taken")

    monkeypatch.setattr(services, "media_csv_rows_of", refused)
    monkeypatch.setattr(services, "iter_csv_columns", refused)
    # SQLite joins the columns (exports.columnlines), PostgreSQL writes the lines (exports.sqlcsv).
    assert b"".join(produce_mediacsv(awkward.land, options, ExportCounts())) == reference


def test_rendered_columns_of_empty_sources_and_shared_sources(awkward, monkeypatch):
    # A render that writes something for NULL; a second direct column of a rendered source; a render of two
    # sources, one of them a JSON source.
    extra = [
        MediaColumn("frames_or_none", ("frames",), render=lambda frames: "none" if frames is None else frames),
        MediaColumn("width_again", ("width",)),
        MediaColumn(
            "colours_and_width",
            ("dominant_colors", "width"),
            render=lambda colours, width: None if colours is None else [len(colours), width],
            analysis_value=True,
        ),
        MediaColumn("dominant_json", ("dominant_colors",)),
    ]
    monkeypatch.setattr(services, "MEDIA_COLUMNS", [*MEDIA_COLUMNS, *extra])
    for chunk_size in (2, 1000):
        monkeypatch.setattr(services, "CHUNK_SIZE", chunk_size)
        fast, reference, _ = _column_lines(awkward.land, chunk_size)
        assert fast == reference
        assert b'"none"' in fast


@pytest.mark.skipif(connection.vendor != "sqlite", reason="values of another type than the column's: SQLite only")
def test_values_sqlite_stores_against_the_column_type(awkward, monkeypatch):
    # SQLite keeps what it is given: text in integer columns, booleans as text, a blob, a real in an integer
    # column, text with NUL and formula starts where numbers are expected.
    media = list(Media.objects.filter(expression__land=awkward.land).order_by("id").values_list("id", flat=True))
    updates = [
        ("width", "'=1+1'"),
        ("height", "'a \"quoted\" text'"),
        ("file_size", "'-12'"),
        ("has_transparency", "'1'"),
        ("frames", "x'00ff'"),
        ("analysis_version", "2.5"),
        ("exif_make", "'nul' || char(0) || 'inside'"),
        ("duration", "'@x'"),
    ]
    with connection.cursor() as cursor:
        for number, (column, value) in enumerate(updates):
            cursor.execute(
                f"UPDATE lands_media SET {column} = {value}, analysis_status = 'done' WHERE id = %s",
                [media[number % len(media)]],
            )
    monkeypatch.setattr(services, "CHUNK_SIZE", 3)
    fast, reference, _ = _column_lines(awkward.land, 3)
    assert fast == reference
    assert b'"\'=1+1"' in fast  # a formula in an integer column, neutralised
    fast, reference, _ = _column_lines(awkward.land, 3, raw=True)
    assert fast == reference
    assert b'"=1+1"' in fast


def test_a_large_land_in_chunks_is_the_row_by_row_bytes(awkward, monkeypatch):
    page = awkward.pages["p1"]
    for number in range(40):
        make_media(
            page,
            analysis_status=AnalysisStatus.DONE if number % 4 else AnalysisStatus.FAILED,
            width=number if number % 3 else None,
            aspect_ratio=number / 7 if number % 5 else None,
            format="PNG" if number % 2 else None,
            values_at=datetime(2026, 1, 1, 0, 0, number, number * 17, tzinfo=UTC) if number % 6 else None,
            dominant_colors=[{"rgb": [number, 2, 3], "hex": f"#{number:02x}0203", "percentage": number + 0.5}],
        )
    for chunk_size in (5, 16):
        monkeypatch.setattr(services, "CHUNK_SIZE", chunk_size)
        fast, reference, _ = _column_lines(awkward.land, chunk_size)
        assert fast == reference


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan")
def test_sqlite_reads_the_rows_in_id_order_without_sorting_them(awkward):
    options = services.prepare_export(awkward.land, "mediacsv", minrel=0).options
    lines = ColumnLines(media_of(awkward.land, options), MEDIA_COLUMNS, raw=False, stale_values=False, chunk_size=10)
    sources = MediaCsvSources.of(MEDIA_COLUMNS)
    sql, params = lines._ordered().values_list(*sources.paths).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = [row[-1] for row in cursor.fetchall()]
    assert not [step for step in plan if "TEMP B-TREE" in step], plan
    assert plan[0].startswith("SEARCH lands_media USING INTEGER PRIMARY KEY"), plan
