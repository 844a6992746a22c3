"""The media CSV written by PostgreSQL gives the bytes of the row-by-row path, whatever the values."""

from __future__ import annotations

import pytest
from django.db import connection

from exports import services
from exports.columns import MEDIA_COLUMNS, MediaColumn
from exports.services import ExportCounts, media_of, produce_mediacsv, produce_mediacsv_by_rows
from exports.sqlcsv import DatabaseLines
from lands.models import Media


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
