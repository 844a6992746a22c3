"""Crafted legacy files: what would make a read endless or huge is refused before anything is read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lands.importer import source
from tests.importer.test_import_failures import row_counts, run_command
from tests.support.legacy_db import LegacyDatabase

# Bounded so that an importer that reads views ends (and fails the test) rather than running forever.
RECURSIVE_LANDS = (
    'CREATE VIEW "land" AS WITH RECURSIVE r(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM r LIMIT 40) '
    "SELECT id, 'land ' || id AS name, '' AS description, 'fr' AS lang, '2024-01-01' AS created_at FROM r"
)


def crawler_file(path: Path, replace: str | None = None, by: str | None = None) -> Path:
    """A small crawler database, with table ``replace`` dropped and ``by`` (SQL) created instead."""
    with LegacyDatabase(path, "full") as db:
        land = db.land("alpha")
        page = db.expression(land, "https://alpha.example/", relevance=1, depth=0)
        db.media(page, "https://alpha.example/a.png")
        tag = db.tag(land, "t")
        db.tagged_content(tag, page, "quote", 0, 5)
        if replace is not None:
            db.conn.execute(f'DROP TABLE "{replace}"')
        if by is not None:
            db.conn.execute(by)
    return path


@pytest.fixture
def nothing_written(db):
    before = row_counts()
    yield
    assert row_counts() == before


def test_a_recursive_view_as_land_is_refused_before_it_is_read(nothing_written, tmp_path):
    path = crawler_file(tmp_path / "view.db", "land", RECURSIVE_LANDS)

    started = time.monotonic()
    message = run_command(str(path))

    assert message.endswith("view.db: not a MyWebIntelligence database (land is a view, not a plain table)")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("table", "sql"),
    [
        ("media", "CREATE VIEW \"media\" AS SELECT 1 AS id, 1 AS expression_id, 'u' AS url, 'img' AS type"),
        ("expressionlink", 'CREATE VIEW "expressionlink" AS SELECT 1 AS source_id, 1 AS target_id'),
        ("tag", "CREATE VIEW \"tag\" AS SELECT 1 AS id, 1 AS land_id, 't' AS name"),
    ],
)
def test_a_view_in_place_of_any_table_read_is_refused(nothing_written, tmp_path, table, sql):
    message = run_command(str(crawler_file(tmp_path / "view.db", table, sql)))

    assert f"({table} is a view, not a plain table)" in message


def test_a_virtual_table_is_refused(nothing_written, tmp_path):
    path = crawler_file(tmp_path / "virtual.db", "domain", 'CREATE VIRTUAL TABLE "domain" USING fts5(id, name)')

    assert "(domain is a virtual table, not a plain table)" in run_command(str(path))


def test_a_generated_column_is_refused(nothing_written, tmp_path):
    # Computed on every read: zeroblob would hand the importer a huge value per row.
    path = tmp_path / "generated.db"
    with LegacyDatabase(path, "old") as db:
        db.land("alpha")
        db.conn.execute('ALTER TABLE "land" ADD COLUMN "lang" BLOB GENERATED ALWAYS AS (zeroblob(100000000)) VIRTUAL')

    assert "(land has generated column(s) lang)" in run_command(str(path))


def test_a_value_longer_than_the_bound_ends_the_import_with_one_line(nothing_written, tmp_path, monkeypatch):
    monkeypatch.setattr(source, "MAX_VALUE_BYTES", 10_000)
    path = tmp_path / "long.db"
    with LegacyDatabase(path, "full") as db:
        land = db.land("alpha")
        db.expression(land, "https://alpha.example/", relevance=1, depth=0, readable="x" * 20_000)

    message = run_command(str(path))

    assert "reading land 'alpha' failed (string or blob too big)" in message


def test_a_plain_crawler_file_still_imports(db, tmp_path):
    from lands.importer import import_legacy_database

    report = import_legacy_database(crawler_file(tmp_path / "plain.db"))

    assert [land.name for land in report.lands] == ["alpha"]
