"""A first import of a large land reads its media in a forked process while this one writes them: the same media,
counts and warnings as reading them here, and a reading failure there fails the land as one here would."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from lands.errors import ImportFailed
from lands.importer import import_legacy_database
from lands.importer import media as media_step
from lands.models import Land, Media

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="the child reader needs fork"
)

MEDIA_FIELDS = [
    field.attname
    for field in Media._meta.concrete_fields
    if field.attname not in {"id", "expression_id", "created_at", "updated_at"}
]


def media_rows() -> list[tuple[object, ...]]:
    return list(Media.objects.order_by("expression__url", "url").values_list("expression__url", *MEDIA_FIELDS))


def media_report(report) -> tuple[object, ...]:
    (land,) = report.lands
    counts = land.tables["media"]
    return counts.created, counts.updated, counts.unchanged, dict(counts.skipped), dict(land.warnings)


def read_by_a_child(monkeypatch) -> list[int]:
    """Every new land's media read by a child (the threshold is meant for large lands); gives the list that
    counts the children started."""
    monkeypatch.setattr(media_step, "CHILD_READER_MIN_ROWS", 0)
    spawned: list[int] = []
    real_read_in_child = media_step._read_in_child

    def read_in_child(*args):
        spawned.append(1)
        yield from real_read_in_child(*args)

    monkeypatch.setattr(media_step, "_read_in_child", read_in_child)
    return spawned


def media_lines(report) -> list[str]:
    """What the command prints of the media and the warnings (the domains were there the second time)."""
    return [line for line in report.summary_lines()[1:] if "media" in line or "warnings" in line]


@pytest.fixture
def child_spawns(monkeypatch) -> list[int]:
    return read_by_a_child(monkeypatch)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("land", ["alpha", "beta"])
def test_media_read_by_a_child_are_those_read_here(messy_db, monkeypatch, land):
    here = import_legacy_database(messy_db.path, [land])
    kept, kept_report = media_rows(), media_report(here)
    assert kept
    assert kept_report[0] > 0
    Land.objects.all().delete()

    spawned = read_by_a_child(monkeypatch)
    there = import_legacy_database(messy_db.path, [land])

    assert spawned == [1]
    assert media_rows() == kept
    assert media_report(there) == kept_report
    assert media_lines(there) == media_lines(here)
    # Importing again reads here (the land is no longer new) and changes nothing.
    again = import_legacy_database(messy_db.path, [land])
    assert again.created == 0
    assert again.updated == 0
    assert spawned == [1]


@pytest.mark.django_db(transaction=True)
def test_a_reading_error_in_the_child_fails_the_land_as_here(messy_db, child_spawns, monkeypatch):
    original = media_step._media_column_reader

    def reader_hitting_a_bad_page(ctx):
        read = original(ctx)

        def read_or_fail(rows):
            raise sqlite3.DatabaseError("database disk image is malformed")

        return read_or_fail if read else read

    monkeypatch.setattr(media_step, "_media_column_reader", reader_hitting_a_bad_page)

    with pytest.raises(ImportFailed, match=r"reading land 'alpha' failed \(database disk image is malformed\)"):
        import_legacy_database(messy_db.path, ["alpha"])

    assert child_spawns == [1]
    assert not Land.objects.exists()
    assert not Media.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_bug_in_the_child_is_raised_with_its_traceback(messy_db, child_spawns, monkeypatch):
    def broken_digester(ctx):
        def digest(row):
            raise KeyError("no such column")

        return digest

    monkeypatch.setattr(media_step, "_row_digester", broken_digester)

    with pytest.raises(RuntimeError, match=r"(?s)the media reader failed: Traceback.*KeyError: 'no such column'"):
        import_legacy_database(messy_db.path, ["alpha"])

    assert not Land.objects.exists()
    assert not Media.objects.exists()
