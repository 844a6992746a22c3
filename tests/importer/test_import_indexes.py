"""A first import of a large land builds the media table's secondary indexes after its rows (SQLite): the schema
is the same after it, and after an import that failed while they were dropped."""

from __future__ import annotations

import pytest
from django.db import connection

from lands.importer import import_legacy_database
from lands.importer import media as media_step
from lands.models import Land, Media
from tests.factories import make_expression, make_land, make_media


def media_schema() -> dict[str, tuple[tuple[str, ...], bool, bool]]:
    """The media table's indexes and constraints: name -> (columns, is an index, is unique)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Media._meta.db_table)
    return {
        name: (tuple(info["columns"]), bool(info["index"]), bool(info["unique"])) for name, info in constraints.items()
    }


def media_values() -> list[tuple[object, ...]]:
    return list(
        Media.objects.order_by("expression__url", "url").values_list(
            "expression__url", "url", "type", "analysis_status", "dominant_colors", "exif_data", "legacy_digest"
        )
    )


@pytest.fixture
def rebuild_always(monkeypatch):
    """The indexes rebuilt for the messy file's few media (the threshold is meant for large lands)."""
    monkeypatch.setattr(media_step, "INDEX_REBUILD_MIN_ROWS", 1)


@pytest.mark.django_db(transaction=True)
def test_failure_while_the_indexes_are_dropped_leaves_the_schema_intact(messy_db, rebuild_always, monkeypatch):
    before = media_schema()
    assert any(index and not unique for _, index, unique in before.values())
    seen_during: list[dict[str, tuple[tuple[str, ...], bool, bool]]] = []
    original = media_step._import_media_rows

    def rows_then_crash(ctx, *args):
        original(ctx, *args)
        seen_during.append(media_schema())
        raise RuntimeError("disk full")

    monkeypatch.setattr(media_step, "_import_media_rows", rows_then_crash)

    with pytest.raises(RuntimeError, match="disk full"):
        import_legacy_database(messy_db.path, ["alpha"])

    if connection.vendor == "sqlite":
        # The crash came while the secondary indexes were dropped; the unique key was kept.
        dropped = set(before) - set(seen_during[0])
        assert dropped == {name for name, (_, index, unique) in before.items() if index and not unique}
        assert all(before[name] == info for name, info in seen_during[0].items())
    else:
        assert seen_during == [before]
    assert media_schema() == before
    assert not Media.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_first_import_with_the_indexes_rebuilt_gives_the_same_media_and_schema(messy_db, monkeypatch):
    before = media_schema()
    import_legacy_database(messy_db.path, ["alpha"])
    kept = media_values()
    Land.objects.all().delete()

    monkeypatch.setattr(media_step, "INDEX_REBUILD_MIN_ROWS", 1)
    import_legacy_database(messy_db.path, ["alpha"])

    assert media_values() == kept
    assert media_schema() == before
    # Importing again (the land is no longer new) keeps every index and changes nothing.
    report = import_legacy_database(messy_db.path, ["alpha"])
    assert report.created == 0
    assert report.updated == 0
    assert media_schema() == before


@pytest.mark.django_db(transaction=True)
def test_indexes_are_kept_when_the_table_holds_more_media_than_the_land_brings(messy_db, rebuild_always, monkeypatch):
    land = make_land("already-here")
    page = make_expression(land)
    for number in range(20):
        make_media(page, url=f"https://elsewhere.example/{number}.jpg")
    schemas: list[dict[str, tuple[tuple[str, ...], bool, bool]]] = []
    original = media_step._import_media_rows

    def rows_then_look(ctx, *args):
        original(ctx, *args)
        schemas.append(media_schema())

    monkeypatch.setattr(media_step, "_import_media_rows", rows_then_look)
    before = media_schema()

    import_legacy_database(messy_db.path, ["alpha"])

    assert schemas == [before]
    assert Media.objects.count() == 26
