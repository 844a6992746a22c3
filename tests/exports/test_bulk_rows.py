"""The media CSV read and written a column at a time gives the bytes the row-by-row path gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exports import services
from exports.columns import MEDIA_COLUMNS, MediaColumn, media_query_plan
from exports.services import ExportOptions, media_csv_header, media_of
from exports.writers import csv_cells, iter_csv, iter_csv_columns
from lands.models import AnalysisStatus, Media
from tests.exports.helpers import run_export
from tests.factories import make_media

COLUMNS = {
    "numbers": [1, None, 2.5, -3, 0],
    "plain text": ["a", None, "", "https://x.example/1", "b c"],
    "formula in the middle": ["a", "=SUM(A1)", None, "-1e-05", "+x"],
    "formula after the separator": ["a\x01=x", "b", None, "c", "d"],
    "NUL": ["a\x00b", "x", None, "y", "z"],
    "booleans": [True, False, None, True, False],
    "mixed": [1, "=x", None, ["#ffffff"], {"a": 1}],
    "formula first": ["@x", "a", "b", None, ""],
}


@pytest.mark.parametrize("raw", [False, True])
def test_cells_a_column_at_a_time_are_the_cells_of_the_rows(raw):
    header = list(COLUMNS)
    rows = list(zip(*COLUMNS.values(), strict=True))
    expected = b"".join(iter_csv(header, rows, raw=raw))
    columns = [csv_cells(column, raw=raw) for column in COLUMNS.values()]
    assert b"".join(iter_csv_columns(header, [columns])) == expected


def _row_by_row(land, options: ExportOptions) -> bytes:
    """The media CSV as ``values_list`` rows and each column's ``value``, one row at a time."""
    paths, positions = media_query_plan([*MEDIA_COLUMNS, MediaColumn("_status", ("analysis_status",))])
    status_index = positions.pop()[0]
    rows = []
    for raw in media_of(land, options).order_by("id").values_list(*paths).iterator(chunk_size=3):
        keep = options.stale_values or raw[status_index] == AnalysisStatus.DONE
        rows.append(
            [
                None if column.analysis_value and not keep else column.value(*(raw[index] for index in indexes))
                for column, indexes in zip(MEDIA_COLUMNS, positions, strict=True)
            ]
        )
    return b"".join(iter_csv(media_csv_header(), rows, raw=options.raw))


@pytest.mark.parametrize("params", [{}, {"stale_values": True}, {"raw": True}])
def test_media_csv_is_the_row_by_row_csv(corpus, monkeypatch, params):
    monkeypatch.setattr(services, "CHUNK_SIZE", 3)
    page = corpus.pages["p1"]
    # Values whose conversion the bulk path does its own way: dates with and without microseconds,
    # booleans, JSON, text a spreadsheet would run.
    make_media(
        page,
        "https://cdn.example/=formula.png",
        analysis_status=AnalysisStatus.DONE,
        analyzed_at=datetime(2026, 3, 2, 8, 15, tzinfo=UTC),
        values_at=datetime(2026, 3, 2, 8, 15, 0, 500, tzinfo=UTC),
        has_transparency=False,
        is_conforming=True,
        format="-PNG",
        dominant_colors=[{"rgb": [1, 2, 3], "hex": "#010203", "percentage": 58}],
        websafe_colors={"#000000": 58.5},
    )
    make_media(
        page,
        "https://cdn.example/failed.png",
        analysis_status=AnalysisStatus.FAILED,
        analyzed_at=datetime(2026, 3, 3, tzinfo=UTC),
        values_at=datetime(2026, 3, 1, 1, 2, 3, 4, tzinfo=UTC),
        has_transparency=True,
        analysis_error="=cmd|' /C calc'!A0",
        width=10,
    )
    options = services.prepare_export(corpus.land, "mediacsv", minrel=0, **params).options
    data, export = run_export(corpus.land, "mediacsv", minrel=0, **params)
    assert export.counts.records == Media.objects.of_land(corpus.land.pk).on_selected_pages(None, 0).count()
    assert data == _row_by_row(corpus.land, options)
