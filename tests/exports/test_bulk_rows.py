"""The media CSV read and written a column at a time gives the bytes the row-by-row path gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.utils.dateparse import parse_datetime

from exports import services
from exports.columns import (
    MEDIA_COLUMNS,
    MediaColumn,
    dominant_hexes,
    dominant_hexes_cells,
    dominant_shares,
    dominant_shares_cells,
    media_query_plan,
    top_websafe,
    top_websafe_cells,
)
from exports.rows import _stored_datetime_cells
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


# --- Values stored by other writers: the fast paths give way to the decoded value ------------------------

# JSON texts of the colour sources: the shape the analysis and the importer store, and spellings that must
# leave it (whole-number, padded, tiny and long shares, capitals, other keys, other containers).
DOMINANT_TEXTS = [
    (
        '[{"rgb": [1, 2, 3], "hex": "#010203", "percentage": 58}, '
        '{"rgb": [4, 5, 6], "hex": "#040506", "percentage": 41.5}]'
    ),
    '[{"rgb": [1, 2, 3], "hex": "#ABCDEF", "percentage": 41.50}]',
    (
        '[{"rgb": [1, 2, 3], "hex": "#010203", "percentage": 1e-05}, '
        '{"rgb": [1, 2, 3], "hex": "#010203", "percentage": 0.00001}]'
    ),
    '[{"rgb": [1, 2, 300], "percentage": 12.25}, {"rgb": [7, 8, 9], "hex": "#070809", "share": 0.5}]',
    (
        '[{"rgb": [0, 0, 0], "hex": "#000000", "percentage": 0.0}, '
        '{"rgb": [255, 255, 255], "hex": "#ffffff", "percentage": 100}]'
    ),
    (
        '[{"rgb": [1, 2, 3], "hex": "#010203", "percentage": 33.333333333333336}, '
        '{"hex": "#0a0b0c", "percentage": 0.0001}]'
    ),
    '[{"rgb": [1, 2, 3], "hex": "#010203", "percentage": 7, "extra": true}]',
    '[{"rgb": [1, 2, 3], "hex": "#010203", "percentage": 2.5}]',
    "[]",
    '{"not": "a list"}',
]
WEBSAFE_TEXTS = [
    '{"#003333": 58.5, "#cccc99": 41.5}',
    '{"#CCCC99": 41.5, "#003333": 58.5}',
    '{"#003333": 50, "#cccc99": 50.0}',
    '{"#003333": 1e-05, "#000000": 0.00001}',
    '{"#003333": "x", "#000000": 1}',
    "{}",
    '[{"hex": "#003333", "percentage": 10}]',
]
# SQLite only: the database keeps the text as written (PostgreSQL's jsonb rewrites it).
SQLITE_JSON_TEXTS = ['[\n  {"rgb": [1, 2, 3], "hex": "#010203", "percentage": 5}\n]', ' {"#003333": 1}']
# Datetimes as SQLite may hold them: Django's form, CURRENT_TIMESTAMP's, and others the parser reads.
SQLITE_DATETIME_TEXTS = [
    "2026-03-02 08:15:00",
    "2026-03-02 08:15:00.500000",
    "2026-03-02 08:15:00.000000",
    "2026-03-02 08:15:00.5",
    "2026-03-02T08:15:00",
    "2026-03-02 08:15",
    "2026-03-02 08:15:00+02:00",
    "2024-02-29 10:00:00",
    "2026-12-31 23:59:59.999999",
    "0001-01-01 00:00:00",
    "2026-03-02",
    "",
]


def _store_text(media: Media, column: str, text: str | None, *, json_column: bool) -> None:
    """Write a stored text straight into a column, as another writer of the database may have."""
    cast = "::jsonb" if json_column and connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f'UPDATE "{Media._meta.db_table}" SET "{column}" = %s{cast} WHERE id = %s', [text, media.pk])


@pytest.mark.parametrize("params", [{}, {"stale_values": True}])
def test_stored_texts_of_every_spelling_give_the_row_by_row_csv(corpus, monkeypatch, params):
    monkeypatch.setattr(services, "CHUNK_SIZE", 3)
    page = corpus.pages["p1"]
    sqlite = connection.vendor == "sqlite"
    dominant = DOMINANT_TEXTS + (SQLITE_JSON_TEXTS[:1] if sqlite else [])
    websafe = WEBSAFE_TEXTS + (SQLITE_JSON_TEXTS[1:] if sqlite else [])
    datetimes = SQLITE_DATETIME_TEXTS if sqlite else []
    for number in range(max(len(dominant), len(websafe), len(datetimes))):
        media = make_media(
            page,
            f"https://cdn.example/stored-{number}.png",
            analysis_status=AnalysisStatus.DONE,
            analyzed_at=datetime(2026, 3, 2, 8, 15, tzinfo=UTC),
        )
        # Every third media keeps NULLs among the others of its chunk.
        if number % 3 == 2:
            continue
        if number < len(dominant):
            _store_text(media, "dominant_colors", dominant[number], json_column=True)
        if number < len(websafe):
            _store_text(media, "websafe_colors", websafe[number], json_column=True)
        if number < len(datetimes):
            _store_text(media, "values_at", datetimes[number], json_column=False)
            _store_text(media, "checked_at", datetimes[-1 - number], json_column=False)
    options = services.prepare_export(corpus.land, "mediacsv", minrel=0, **params).options
    data, _ = run_export(corpus.land, "mediacsv", minrel=0, **params)
    assert data == _row_by_row(corpus.land, options)


def _decoded(text: str | None):
    """The value Django's JSONField gives for a stored text."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@pytest.mark.parametrize(
    ("cells_of", "render", "texts"),
    [
        (dominant_hexes_cells, dominant_hexes, DOMINANT_TEXTS + SQLITE_JSON_TEXTS),
        (dominant_shares_cells, dominant_shares, DOMINANT_TEXTS + SQLITE_JSON_TEXTS),
        (top_websafe_cells, top_websafe, WEBSAFE_TEXTS + SQLITE_JSON_TEXTS),
    ],
)
def test_colour_cells_of_a_column_of_texts_are_those_of_the_decoded_values(cells_of, render, texts):
    column = [*texts, None, "not json", ""]
    made, left = cells_of(column)
    for at in left:
        made[at] = render(_decoded(column[at]))
    expected = b"".join(iter_csv(["c"], [[render(_decoded(text))] for text in column]))
    assert b"".join(iter_csv_columns(["c"], [[csv_cells(made)]])) == expected


# The shapes written by Django's JSON encoder (SQLite) and read back from jsonb (PostgreSQL), with NULLs.
STORED_DOMINANT = [
    (
        '[{"rgb": [12, 34, 0], "hex": "#0c2200", "percentage": 58.5}, '
        '{"rgb": [1, 180, 141], "hex": "#01b48d", "percentage": 41}]'
    ),
    None,
    (
        '[{"hex": "#0c2200", "rgb": [12, 34, 0], "percentage": 58.5}, '
        '{"hex": "#01b48d", "rgb": [1, 180, 141], "percentage": 0.25}]'
    ),
    "[]",
]


def test_colour_cells_of_the_stored_shapes_are_made_for_the_whole_column():
    hexes, left = dominant_hexes_cells(STORED_DOMINANT)
    assert (hexes, left) == (['["#0c2200","#01b48d"]', "", '["#0c2200","#01b48d"]', "[]"], [])
    shares, left = dominant_shares_cells(STORED_DOMINANT)
    assert (shares, left) == (["[58.5,41.0]", "", "[58.5,0.25]", "[]"], [])
    websafe, left = top_websafe_cells(['{"#003333": 58.5, "#cccc99": 41.5}', None, '{"#003333": 5, "#cccc99": 5.0}'])
    assert (websafe, left) == (["#003333", None, "#003333"], [])


def test_a_column_checked_again_is_judged_by_its_texts_not_by_the_last_check():
    # The hexes and the shares of one source share the shape check of the last column; a column that
    # differs from it, even the same list changed in place, is checked anew.
    column = list(STORED_DOMINANT)
    assert dominant_hexes_cells(column)[1] == []
    assert dominant_shares_cells(column) == (["[58.5,41.0]", "", "[58.5,0.25]", "[]"], [])
    column[3] = '[{"hex": "#0C2200", "percentage": 1}]'  # upper case: not the stored shape
    hexes, left = dominant_hexes_cells(column)
    assert (hexes[:3], left) == (['["#0c2200","#01b48d"]', None, '["#0c2200","#01b48d"]'], [3])
    shares, left = dominant_shares_cells(column)
    assert (shares[:3], left) == (["[58.5,41.0]", None, "[58.5,0.25]"], [3])
    column[3] = "[]"
    assert dominant_shares_cells(column) == (["[58.5,41.0]", "", "[58.5,0.25]", "[]"], [])
    assert dominant_hexes_cells(tuple(column))[1] == []
    assert dominant_hexes_cells([1, None]) == ([None, None], [0])


@pytest.mark.parametrize(
    "texts",
    [
        ["2026-03-02 08:15:00", None, "2026-03-02 08:15:00.500000", ""],
        [None, None],
        ["2026-03-02 08:15:00.000000", "2026-03-02T08:15:00", "2024-02-29 10:00:00", "2026-03-02 08:15:00"],
    ],
)
def test_sqlite_datetime_texts_become_the_iso_cells_of_the_parsed_values(db, texts):
    if connection.vendor != "sqlite":
        pytest.skip("the text of SQLite's datetimes")
    compiler = Media.objects.values_list("analyzed_at").query.get_compiler(connection.alias)
    compiler.setup_query()
    expression = compiler.select[0][0]
    field_converters = compiler.get_converters([expression])[0][0]
    convert = _stored_datetime_cells("+00:00", field_converters, expression, connection, False)
    expected = [None if not text else parse_datetime(text).replace(tzinfo=UTC).isoformat() for text in texts]
    assert [cell or None for cell in convert(texts)] == expected
