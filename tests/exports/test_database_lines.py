"""The media CSV written by PostgreSQL gives the bytes of the row-by-row path, whatever the values."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from django.db import connection

from exports import services
from exports.columns import MEDIA_COLUMNS, MediaColumn
from exports.services import ExportCounts, media_of, produce_mediacsv, produce_mediacsv_by_rows
from exports.sqlcsv import DatabaseLines
from lands.models import AnalysisStatus, Media
from tests.factories import make_media, make_text

AWKWARD_TEXTS = [
    'He said "hi", then, left',
    "two\nlines\r\nand a tab\t",
    "é 😀 \u2028 ünïcode",
    "=SUM(A1)",
    "+x",
    "-3",
    "-1e-05",
    "@me",
    "\tstarts with a tab",
    "",
    '"',
    "a,b",
]
AWKWARD_FLOATS = [0.1, 1e-07, 100.0, -0.0, 1e15, 1234567890123456.8, 1e16, 33.333333333333336, 2.5e-05, 0.0001]


def _lines(land, **params) -> tuple[bytes, bytes, int]:
    options = services.prepare_export(land, "mediacsv", minrel=0, **params).options
    counts = ExportCounts()
    fast = b"".join(produce_mediacsv(land, options, counts))
    reference = b"".join(produce_mediacsv_by_rows(land, options, ExportCounts()))
    return fast, reference, counts.records


def _database_lines(land, **params) -> DatabaseLines:
    options = services.prepare_export(land, "mediacsv", minrel=0, **params).options
    return DatabaseLines(
        media_of(land, options), MEDIA_COLUMNS, raw=options.raw, stale_values=options.stale_values, chunk_size=3,
        by_rows=lambda queryset: services.media_csv_rows_of(queryset, options, ExportCounts()),
    )  # fmt: skip


@pytest.fixture
def awkward(corpus):
    page = corpus.pages["p1"]
    for number, text in enumerate(AWKWARD_TEXTS):
        value = AWKWARD_FLOATS[number % len(AWKWARD_FLOATS)]
        media = make_media(
            page,
            f"https://cdn.example/{number}/{text}",
            analysis_status=AnalysisStatus.DONE if number % 3 else AnalysisStatus.FAILED,
            analyzed_at=datetime(2024, 2, 29, 23, 59, 59, number * 1000, tzinfo=UTC),
            values_at=datetime(2026, 3, 2, 8, 15, tzinfo=UTC),
            aspect_ratio=value,
            duration=-value,
            gps_latitude=value * 3,
            has_transparency=bool(number % 2),
            is_conforming=None if number % 4 else False,
            format=text[:20],
            exif_make=text,
            conformity_reason=text,
            analysis_error=text if number % 3 == 0 else None,
            dominant_colors=[] if number % 5 == 0 else [{"rgb": [1, 2, 3], "hex": "#010203", "percentage": value}],
            websafe_colors={} if number % 5 == 0 else {"#003333": value, "#cccc99": 50},
            thumbnail_key=None if number % 4 == 0 else f"thumbnails/320/{text}" if number % 2 else text,
            width=-number,
        )
        make_text(media, text, confidence=value, text_area=None if number % 2 else value / 7, language="")
    for value in (math.nan, math.inf, -math.inf, 5e-324, 1.7976931348623157e308):
        make_media(page, analysis_status=AnalysisStatus.DONE, aspect_ratio=value)
    # A failed media keeping the values of an earlier success; a never analysed one.
    make_media(
        corpus.pages["p2"],
        analysis_status=AnalysisStatus.FAILED,
        width=10,
        aspect_ratio=0.5,
        dominant_colors=[{"rgb": [9, 9, 9], "percentage": 1}],
        values_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    make_media(corpus.pages["p2"], analysis_status=AnalysisStatus.PENDING)
    return corpus


@pytest.mark.parametrize("params", [{}, {"stale_values": True}, {"raw": True}, {"depth": 1}])
def test_database_lines_are_the_row_by_row_bytes(awkward, monkeypatch, params):
    monkeypatch.setattr(services, "CHUNK_SIZE", 4)
    fast, reference, records = _lines(awkward.land, **params)
    assert fast == reference
    assert (
        records
        == media_of(awkward.land, services.prepare_export(awkward.land, "mediacsv", minrel=0, **params).options).count()
    )
    assert records > 20


def test_postgresql_writes_the_lines_and_sqlite_reads_values(awkward):
    planned = _database_lines(awkward.land).plan()
    if connection.vendor == "postgresql":
        assert planned is not None
        query = planned[0]
        assert query.startswith("WITH q (")
    else:
        assert planned is None


def test_a_column_the_database_cannot_write_leaves_the_export_to_the_rows(awkward, monkeypatch):
    extra = MediaColumn("width_twice", ("width",), render=lambda width: None if width is None else width * 2)
    monkeypatch.setattr(services, "MEDIA_COLUMNS", [*MEDIA_COLUMNS, extra])
    lines = DatabaseLines(
        Media.objects.of_land(awkward.land.pk), services.MEDIA_COLUMNS, raw=False, stale_values=False, chunk_size=3,
        by_rows=lambda queryset: iter(()),
    )  # fmt: skip
    assert lines.plan() is None
    fast, reference, _ = _lines(awkward.land)
    assert fast == reference
    assert b'"width_twice"' in fast.split(b"\r\n", 1)[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the lines are written by PostgreSQL only")
def test_a_row_the_database_leaves_goes_the_row_by_row_way(awkward, monkeypatch):
    # A datetime the SQL refuses (here any year from 2024) makes the row's line NULL: the row is written by
    # the row-by-row path, in its place.
    from exports import sqlcsv

    monkeypatch.setattr(services, "CHUNK_SIZE", 4)
    original = sqlcsv._PostgresCells.cell

    def strict(self, kind, value):
        cell = original(self, kind, value)
        return cell.replace("'10000-01-01 00:00:00+00'", "'2024-01-01 00:00:00+00'") if kind == "datetime" else cell

    monkeypatch.setattr(sqlcsv._PostgresCells, "cell", strict)
    fast, reference, _ = _lines(awkward.land, stale_values=True)
    assert fast == reference
