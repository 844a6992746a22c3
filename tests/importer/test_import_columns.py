"""A first import reads the media rows a batch and a column at a time: the same values and warnings as the
row reader gives each row, for every legacy schema and for values the crawler never meant to write."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from lands.importer.context import _Context
from lands.importer.media import _media_column_reader, _media_reader
from lands.importer.report import LandReport
from lands.importer.source import KNOWN_COLUMNS, inspect_legacy_schema, open_legacy_database
from tests.importer.messy_land import build_messy_database
from tests.support.legacy_db import VARIANTS

# Values each column may hold in a crawler's file, readable or not.
ODD_VALUES: dict[str, list[Any]] = {
    "width": [640, "640", " 12 ", 12.6, -3, 2**31, "abc", b"12", "", None, "1e3"],
    "height": [480, "nan", 0, 2**40, "  ", None, 7.5, "inf"],
    "file_size": [2**33, "2048", -1, "x", None, 3.0],
    "format": ["JPEG", "png", "", None, "a" * 40, "GI\x00F", b"WEBP", 12],
    "color_mode": ["RGB", None, "x" * 30, b"L"],
    "has_transparency": [0, 1, "true", "no", "maybe", 2, None, 1.0, ""],
    "aspect_ratio": [1.5, "1.33", "nan", "x", float("inf"), None, 2, True],
    "nsfw_score": [0.2, "0.9", None, "bad"],
    "dominant_colors": [
        "[{'rgb': (np.float64(0.6), 300, -2), 'percentage': np.float64(41.5)}, {'rgb': (1, 2, 3), 'percentage': 58}]",
        '[{"rgb": [1, 2, 3], "percentage": 5}]',
        "[((1, 2, 3), 40)]",
        "not colours",
        "[]",
        None,
    ],
    "websafe_colors": ["{'#cccc99': np.float64(41.5), '#CCCC99': 1}", "{}", "[1, 2]", "{'x': 1}", None],
    "exif_data": [
        "{'Make': b'Canon\\x00', 'Model': 'EOS 5D', 'DateTime': '2025:07:14 10:00:00', 'X': IFDRational(72, 1)}",
        "{'MakerNote': b'\\x01\\x02', 'DateTimeOriginal': '2020:01:01 00:00:00', 'Model': '" + "m" * 300 + "'}",
        '{"Make": "Nikon", "Model": null}',
        "[1, 2]",
        "{oops",
        None,
    ],
    "image_hash": ["ABCDEF" * 10 + "ABCD", "  ", "", None, "x" * 80, 12],
    "content_tags": ["['cat', 'dog']", "{'a': (1, 2)}", "bad(", None, "[b'\\xff']"],
    "analyzed_at": ["2026-03-02 08:15:00.5", "2024-03-01T10:00:00Z", "garbage", "", 1700000000, None, "0"],
    "analysis_error": ["cannot identify image file", "Read timed out", "", None, "HTTP status 404"],
}


def add_odd_media(path: Path, count: int) -> None:
    """Media rows on the file's first page whose columns cycle through ``ODD_VALUES`` (the columns it has)."""
    conn = sqlite3.connect(path)
    present = {row[1] for row in conn.execute('PRAGMA table_info("media")')}
    page = conn.execute('SELECT "id" FROM "expression" ORDER BY "id" LIMIT 1').fetchone()[0]
    for number in range(count):
        row: dict[str, Any] = {"expression_id": page, "url": f"https://odd.example/{number}.jpg", "type": "img"}
        for column, values in ODD_VALUES.items():
            if column in present:
                row[column] = values[(number * 7 + len(column)) % len(values)]
        names = ", ".join(f'"{name}"' for name in row)
        conn.execute(f'INSERT INTO "media" ({names}) VALUES ({", ".join("?" * len(row))})', list(row.values()))
    conn.commit()
    conn.close()


def context(path: Path) -> _Context:
    conn = open_legacy_database(path)
    schema = inspect_legacy_schema(conn, path)
    return _Context(conn, schema, 0, 0, LandReport(name="x"), 1000, timezone.now(), lambda step, advance: None)


def legacy_rows(ctx: _Context) -> list[tuple[Any, ...]]:
    cursor = ctx.conn.cursor()
    cursor.row_factory = None
    return cursor.execute(f'SELECT {ctx.schema.select_list("media", "m")} FROM "media" m ORDER BY m."id"').fetchall()


@pytest.mark.parametrize("variant", VARIANTS)
def test_columns_read_as_the_rows_are_read(tmp_path, variant):
    path = build_messy_database(tmp_path / "mwi.db", variant).path
    add_odd_media(path, 150)
    by_row, by_column = context(path), context(path)
    rows = legacy_rows(by_row)
    assert len(rows) > 150
    assert len(rows[0]) == len(KNOWN_COLUMNS["media"])

    read_row = _media_reader(by_row)
    expected = [read_row(row, True) for row in rows]
    read_columns = _media_column_reader(by_column)
    got: list[dict[str, Any]] = [{} for _ in rows]
    for start in range(0, len(rows), 64):
        columns = read_columns(rows[start : start + 64])
        for name, values in columns.items():
            assert len(values) == len(rows[start : start + 64]), name
            for offset, value in enumerate(values):
                got[start + offset][name] = value

    assert [repr(sorted(values.items())) for values in got] == [repr(sorted(values.items())) for values in expected]
    assert by_column.report.warnings == by_row.report.warnings
    if variant != "old":
        assert sum(by_row.report.warnings.values()) > 20
