"""Importing a file again: rows whose digest is unchanged are skipped; changed or undigested rows are compared."""

from __future__ import annotations

import sqlite3

import pytest
from django.forms.models import model_to_dict

from lands.importer import import_legacy_database
from lands.importer import values as lv
from lands.models import Land, LandAggregates, Media

pytestmark = pytest.mark.django_db

ALPHA_MEDIA = 6  # media rows alpha's import creates (tests/importer/messy_land.py)


def media_rows() -> list[dict]:
    return [{**model_to_dict(media), "legacy_digest": media.legacy_digest} for media in Media.objects.order_by("pk")]


def media(url: str) -> Media:
    return Media.objects.get(url=url)


def set_legacy(path, sql: str, *params) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def count_colour_reads(monkeypatch) -> list[object]:
    """Every legacy dominant-colours value the import reads, in order, for a new row or a compared one."""
    seen: list[object] = []
    read = lv.normalise_dominant_colors

    def counting(value: object):
        seen.append(value)
        return read(value)

    monkeypatch.setattr(lv, "normalise_dominant_colors", counting)
    # A new row's value is read as JSON text; counted here and read the general way.
    monkeypatch.setattr(lv, "dominant_colors_json", counting)
    return seen


def test_every_imported_media_keeps_the_digest_of_its_row(messy_db):
    import_legacy_database(messy_db.path, ["alpha"])

    digests = list(Media.objects.values_list("legacy_digest", flat=True))
    assert len(digests) == ALPHA_MEDIA
    assert all(digest and len(digest) == 16 for digest in digests)
    # Rows with different values have different digests.
    assert len(set(digests)) == ALPHA_MEDIA


def test_an_unchanged_row_is_skipped_without_reading_its_values(messy_db, monkeypatch):
    import_legacy_database(messy_db.path, ["alpha"])
    before = media_rows()
    reads = count_colour_reads(monkeypatch)

    report = import_legacy_database(messy_db.path, ["alpha"])

    counts = report.lands[0].tables["media"]
    assert (counts.created, counts.updated, counts.unchanged) == (0, 0, ALPHA_MEDIA)
    assert reads == []
    assert media_rows() == before


def test_a_changed_row_is_read_and_updated(messy_db, monkeypatch):
    import_legacy_database(messy_db.path, ["alpha"])
    one = media("https://cdn.example/One.JPG")
    others = {row["id"]: row for row in media_rows() if row["id"] != one.pk}
    set_legacy(messy_db.path, 'UPDATE "media" SET "width" = 800 WHERE "id" = ?', messy_db.ids["m1"])
    reads = count_colour_reads(monkeypatch)

    report = import_legacy_database(messy_db.path, ["alpha"])

    counts = report.lands[0].tables["media"]
    assert (counts.created, counts.updated, counts.unchanged) == (0, 1, ALPHA_MEDIA - 1)
    # Only the changed row was read again.
    assert len(reads) == 1
    updated = media("https://cdn.example/One.JPG")
    assert updated.width == 800
    assert updated.legacy_digest not in (None, one.legacy_digest)
    assert {row["id"]: row for row in media_rows() if row["id"] != one.pk} == others
    # The new digest is the row's: importing again skips it.
    again = import_legacy_database(messy_db.path, ["alpha"])
    assert (again.updated, again.lands[0].tables["media"].unchanged) == (0, ALPHA_MEDIA)


def test_rows_without_a_digest_are_compared_and_given_one(messy_db, monkeypatch):
    reads = count_colour_reads(monkeypatch)
    import_legacy_database(messy_db.path, ["alpha"])
    read_by_a_first_import = len(reads)
    digests = dict(Media.objects.values_list("pk", "legacy_digest"))
    # As media imported before digests were kept; one of them changed here since.
    Media.objects.update(legacy_digest=None)
    Media.objects.filter(url="https://cdn.example/json.png").update(width=99)
    reads.clear()

    report = import_legacy_database(messy_db.path, ["alpha"])

    counts = report.lands[0].tables["media"]
    # Every row read and compared: the one whose value differs is updated back, the others are unchanged.
    assert (counts.created, counts.updated, counts.unchanged) == (0, 1, ALPHA_MEDIA - 1)
    assert len(reads) == read_by_a_first_import > 0
    assert media("https://cdn.example/json.png").width is None
    # Their digests are written without counting as updates, and are those a first import writes.
    assert dict(Media.objects.values_list("pk", "legacy_digest")) == digests
    reads.clear()
    again = import_legacy_database(messy_db.path, ["alpha"])
    assert (again.updated, reads) == (0, [])


def test_a_newer_analysis_here_is_kept_when_the_row_is_skipped(messy_db):
    import_legacy_database(messy_db.path, ["alpha"])
    ours = media("https://cdn.example/broken.png")
    ours.width = 320
    ours.analyzed_at = ours.analyzed_at.replace(year=2025)
    ours.save()

    report = import_legacy_database(messy_db.path, ["alpha"])

    assert report.updated == 0
    assert report.lands[0].warnings["media analysed again since: our analysis kept"] == 1
    assert media("https://cdn.example/broken.png").width == 320


@pytest.mark.parametrize("variant", ["full", "old", "partial"])
def test_importing_again_and_again_changes_nothing(tmp_path, variant):
    from tests.importer.messy_land import build_messy_database

    messy = build_messy_database(tmp_path / "mwi.db", variant)
    first = import_legacy_database(messy.path)
    snapshot = media_rows()

    for _ in range(2):
        again = import_legacy_database(messy.path)
        assert (again.created, again.updated) == (0, 0)
        assert again.totals()["media"].unchanged == first.totals()["media"].created
        assert media_rows() == snapshot


def test_a_file_without_a_column_digests_its_rows_differently(tmp_path):
    from tests.importer.messy_land import build_messy_database

    full = build_messy_database(tmp_path / "full.db", "full")
    import_legacy_database(full.path, ["beta"])
    digest = media("https://cdn.example/beta.jpg").legacy_digest
    Land.objects.all().delete()
    partial = build_messy_database(tmp_path / "partial.db", "partial")

    import_legacy_database(partial.path, ["beta"])

    # The same row read from a file that lacks some columns does not read the same: it must not be skipped.
    assert media("https://cdn.example/beta.jpg").legacy_digest != digest


def test_an_import_that_changes_nothing_does_not_recount_the_land(messy_db):
    import_legacy_database(messy_db.path, ["alpha"])
    stored = LandAggregates.objects.get(land__name="alpha")

    import_legacy_database(messy_db.path, ["alpha"])
    assert LandAggregates.objects.get(land__name="alpha").refreshed_at == stored.refreshed_at

    set_legacy(messy_db.path, 'UPDATE "media" SET "analysis_error" = NULL WHERE "id" = ?', messy_db.ids["m2"])
    import_legacy_database(messy_db.path, ["alpha"])
    recounted = LandAggregates.objects.get(land__name="alpha")
    assert recounted.refreshed_at > stored.refreshed_at
    assert recounted.failed_count == stored.failed_count - 1


def test_an_unchanged_import_recounts_a_land_without_figures(messy_db):
    import_legacy_database(messy_db.path, ["alpha"])
    LandAggregates.objects.all().delete()

    import_legacy_database(messy_db.path, ["alpha"])

    assert LandAggregates.objects.get(land__name="alpha").figures is not None
