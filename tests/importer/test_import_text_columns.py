"""Texts read a column at a time: the driver's UTF-8 decoding while the file's text is valid, the lenient one from
the first value that is not; the column checks give what the per-value reading gives."""

from __future__ import annotations

import random
import sqlite3

import pytest
from django.utils import timezone

from lands.importer import import_legacy_database
from lands.importer import values as lv
from lands.importer.context import _Context
from lands.importer.report import LandReport
from lands.importer.source import inspect_legacy_schema, open_legacy_database
from lands.models import Media

ODD_TEXTS: list[object] = ["JPEG", "", " img ", "a" * 70, "GI\x00F", None, b"WEBP", 12, 3.0, 2.5, "Ünï", " ", "x\x00"]


@pytest.mark.parametrize("max_length", [None, 10, 64])
def test_a_column_of_texts_reads_as_each_of_its_values(max_length):
    rng = random.Random(max_length)
    plain = ["JPEG", "png", "", None, "é" * 10, "A" * 64]
    columns = [plain, [None] * 5, []] + [rng.choices(plain + ODD_TEXTS, k=40) for _ in range(200)]
    for column in columns:
        assert lv.coerce_texts(column, max_length) == [lv.coerce_text(value, max_length) for value in column]


def test_a_column_of_media_types_reads_as_each_of_its_values():
    column = ["img", " Image ", "VIDEO", "iframe", "", None, b"img", 3, "photo", "sound\x00", "a\x00udio"]
    assert lv.legacy_media_types(column) == [lv.legacy_media_type(value) for value in column]


def legacy_table(path, rows):
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)")
        conn.executemany("INSERT INTO t (id, a) VALUES (?, CAST(? AS TEXT))", rows)
    conn.close()


@pytest.mark.parametrize("batch_size", [1, 2, 3, 100])
def test_rows_after_text_that_is_not_utf8_are_read_with_the_lenient_decoding(tmp_path, batch_size):
    path = tmp_path / "t.db"
    rows = [(1, b"ok"), (2, "é".encode()), (3, b"A\xffB"), (4, b"z"), (5, b"\xc3"), (6, b"fin")]
    legacy_table(path, rows)
    conn = sqlite3.connect(path)
    conn.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
    lenient = conn.text_factory
    ctx = _Context(conn, None, 0, 0, LandReport(name="x"), batch_size, timezone.now(), lambda step, advance: None)

    batches = list(ctx.tuples("SELECT id, a FROM t ORDER BY id"))

    assert [row for batch in batches for row in batch] == [
        (1, "ok"),
        (2, "é"),
        (3, "A\ufffdB"),
        (4, "z"),
        (5, "\ufffd"),
        (6, "fin"),
    ]
    assert all(len(batch) <= batch_size for batch in batches)
    # The connection's own decoding is left as it was, for its other readers.
    assert conn.text_factory is lenient
    conn.close()


def test_a_legacy_file_opened_for_import_reads_valid_text_alike(messy_db):
    conn = open_legacy_database(messy_db.path)
    schema = inspect_legacy_schema(conn)
    ctx = _Context(conn, schema, 0, 0, LandReport(name="x"), 2, timezone.now(), lambda step, advance: None)
    sql = f'SELECT {schema.select_list("media", "m")} FROM "media" m ORDER BY m."id"'
    assert [row for batch in ctx.tuples(sql) for row in batch] == [tuple(row) for row in conn.execute(sql)]
    conn.close()


@pytest.mark.django_db(transaction=True)
def test_a_media_text_that_is_not_utf8_is_imported_leniently(messy_db):
    with sqlite3.connect(messy_db.path) as conn:
        conn.execute(
            "UPDATE media SET analysis_error = CAST(x'62726f6b656eff21' AS TEXT) WHERE url = ?",
            ("https://cdn.example/broken.png",),
        )
    conn.close()

    report = import_legacy_database(messy_db.path, ["alpha"], batch_size=1)

    broken = Media.objects.get(url="https://cdn.example/broken.png")
    assert broken.analysis_error == "broken\ufffd!"
    assert report.lands[0].tables["media"].created == Media.objects.count()
    assert Media.objects.count() == 6
