"""Importing legacy databases: every row once, field values, re-runs, selection, messy rows."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F
from django.forms.models import model_to_dict

from lands.importer import import_legacy_database
from lands.models import AnalysisStatus, Domain, Expression, ExpressionLink, Land, Media, Tag, TaggedContent
from tests.factories import make_domain, make_land
from tests.importer.messy_land import build_messy_database
from tests.support.legacy_db import LegacyDatabase, build_sample_database

pytestmark = pytest.mark.django_db

MODELS = (Land, Domain, Expression, ExpressionLink, Media, Tag, TaggedContent)


def snapshot() -> dict[str, list[dict]]:
    return {model.__name__: [model_to_dict(obj) for obj in model.objects.order_by("pk")] for model in MODELS}


def page(url: str, land: str = "alpha") -> Expression:
    return Expression.objects.get(land__name=land, url=url)


def media(url: str) -> Media:
    return Media.objects.get(url=url)


def test_full_database_imports_every_row_once(messy_db):
    report = import_legacy_database(messy_db.path, ["alpha", "beta"])

    alpha, beta = report.lands
    assert (alpha.name, alpha.created, beta.name, beta.created) == ("alpha", True, "beta", True)
    counts = {table: (c.created, c.present, dict(c.skipped)) for table, c in alpha.tables.items()}
    assert counts == {
        "land": (1, 0, {}),
        "domain": (3, 0, {}),
        "expression": (4, 0, {"duplicate url": 1}),
        # The link to beta is made by beta's import, once both ends exist.
        "expressionlink": (3, 0, {"duplicate (merged pages)": 1, "target page missing": 1}),
        "media": (6, 0, {"duplicate url on the page": 2, "unknown type": 1}),
        "tag": (2, 0, {"parent tag missing": 1}),
        "taggedcontent": (2, 0, {"duplicate": 1, "page in another land": 1}),
    }
    # Beta's own link to alpha, and alpha's link to beta.
    assert (beta.tables["expressionlink"].created, beta.tables["expressionlink"].skipped) == (2, {})
    assert beta.tables["domain"].created == 1
    assert alpha.warnings == {
        "domain derived from page URL": 1,
        "unreadable domain.created_at": 1,
        "unreadable expression.created_at": 1,
        "unreadable media.analyzed_at": 1,
        "unreadable media.dominant_colors": 1,
    }

    assert Land.objects.count() == 2
    assert Domain.objects.count() == 4
    assert Expression.objects.count() == 5
    assert ExpressionLink.objects.count() == 5
    assert Media.objects.count() == 7
    assert Tag.objects.count() == 3
    assert TaggedContent.objects.count() == 2


def test_field_values_are_converted(messy_db):
    import_legacy_database(messy_db.path, ["alpha"])

    land = Land.objects.get(name="alpha")
    assert (land.description, land.languages) == ("First land", ["fr", "en"])
    assert land.created_at == datetime(2024, 3, 1, 12, 34, 56, 123456, tzinfo=UTC)

    domain = Domain.objects.get(name="alpha.example")
    assert (domain.http_status, domain.title, domain.fetched_at) == (
        "200",
        "Alpha",
        datetime(2024, 3, 2, 8, tzinfo=UTC),
    )
    assert Domain.objects.filter(name="derived.example").exists()

    home = page("https://alpha.example/")
    assert home.domain.name == "alpha.example"
    assert (home.http_status, home.lang, home.title, home.relevance, home.depth) == ("200", "fr", "Home", 5, 0)
    assert home.readable == "Alpha home page text."
    # +02:00 in the legacy text: stored in UTC.
    assert home.published_at == datetime(2024, 2, 29, 8, tzinfo=UTC)
    assert home.fetched_at == datetime(2024, 3, 2, 8, 0, 0, 500000, tzinfo=UTC)
    assert page("https://alpha.example/a").depth == 1
    assert page("https://derived.example/page").domain.name == "derived.example"
    before = datetime.now(UTC)
    assert before - page("https://alpha.example/a").created_at < timedelta(minutes=5)

    links = set(ExpressionLink.objects.values_list("source__url", "target__url"))
    # Only alpha is imported: its links to and from beta wait for beta.
    assert links == {
        ("https://alpha.example/", "https://alpha.example/a"),
        ("https://alpha.example/a", "https://shared.example/x"),
        ("https://alpha.example/", "https://shared.example/x"),
    }

    one = media("https://cdn.example/One.JPG")
    assert one.expression == home
    assert (one.type, one.width, one.height, one.file_size) == ("img", 640, 480, 48213)
    assert (one.format, one.mime_type, one.color_mode, one.has_transparency) == ("JPEG", "image/jpeg", "RGB", False)
    assert one.aspect_ratio == pytest.approx(1.33)
    assert one.dominant_colors == [
        {"rgb": [10, 21, 30], "hex": "#0a151e", "percentage": 62.5},
        {"rgb": [250, 0, 5], "hex": "#fa0005", "percentage": 37.5},
    ]
    assert one.primary_color_hex == "#0a151e"
    assert one.websafe_colors == {"#003333": 58.5, "#cccc99": 41.5}
    assert one.exif_data == {
        "ImageWidth": 640,
        "ImageLength": 480,
        "Make": "Canon",
        "Model": "EOS 5D",
        "XResolution": 72.0,
        "DateTime": "2023:07:14 10:00:00",
    }
    assert (one.exif_make, one.exif_model, one.exif_datetime) == ("Canon", "EOS 5D", "2023:07:14 10:00:00")
    assert one.image_hash == "a" * 64
    assert one.analyzed_at == datetime(2024, 3, 3, 9, 15, 0, 250000, tzinfo=UTC)
    assert (one.analysis_status, one.is_processed, one.error_class) == (AnalysisStatus.DONE, True, None)

    broken = media("https://cdn.example/broken.png")
    assert (broken.analysis_status, broken.is_processed, broken.error_class) == ("failed", True, "not_an_image")
    assert broken.analysis_error.startswith("cannot identify image file")

    pending = media("https://cdn.example/pending.gif")
    assert (pending.analysis_status, pending.is_processed, pending.analyzed_at) == ("pending", False, None)
    assert media("https://cdn.example/clip.mp4").type == "video"
    assert not Media.objects.filter(url="https://cdn.example/frame.html").exists()

    # The duplicate of a merged page: one media left, its unreadable values emptied.
    shared = media("https://cdn.example/shared.jpg")
    assert shared.expression.url == "https://shared.example/x"
    assert (shared.dominant_colors, shared.analysis_status) == (None, "pending")

    json_media = media("https://cdn.example/json.png")
    assert json_media.dominant_colors[0] == {"rgb": [250, 250, 250], "hex": "#fafafa", "percentage": 70.0}
    assert json_media.websafe_colors == {"#ffffff": 70.0, "#0066cc": 30.0}
    assert (json_media.has_transparency, json_media.content_tags, json_media.nsfw_score) == (
        True,
        ["landscape", "sky"],
        0.02,
    )
    assert json_media.analyzed_at == datetime(2024, 3, 4, tzinfo=UTC)

    root = Tag.objects.get(name="Topics")
    child = Tag.objects.get(name="Images")
    assert (child.parent, child.land, child.sorting, child.color) == (root, land, 2, "#993366")
    assert set(TaggedContent.objects.values_list("tag__name", "expression__url", "text", "from_char", "to_char")) == {
        ("Images", "https://alpha.example/", "Alpha home", 0, 10),
        ("Topics", "https://shared.example/x", "x", 3, 4),
    }


def test_second_run_creates_and_changes_nothing(messy_db):
    first = import_legacy_database(messy_db.path)
    before = snapshot()

    second = import_legacy_database(messy_db.path)

    assert first.created > 0
    assert (second.created, second.updated) == (0, 0)
    assert [land.created for land in second.lands] == [False, False, False]
    assert snapshot() == before
    totals = second.totals()
    assert totals["media"].present == first.totals()["media"].created
    assert "0 created" in second.summary_lines()[-1]


def test_an_import_stores_each_lands_counts_and_figures(messy_db):
    from lands.models import LandAggregates

    report = import_legacy_database(messy_db.path)

    for land_report in report.lands:
        stored = LandAggregates.objects.get(land_id=land_report.land_id)
        media = Media.objects.filter(expression__land_id=land_report.land_id)
        assert stored.media_count == media.count()
        assert stored.expression_count == Expression.objects.filter(land_id=land_report.land_id).count()
        assert stored.analysed_count == media.filter(analysis_status=AnalysisStatus.DONE).count()
        assert stored.figures is not None


@pytest.mark.parametrize("variant", ["old", "partial"])
def test_older_schemas_import_and_rerun(tmp_path, variant):
    messy = build_messy_database(tmp_path / "mwi.db", variant)

    report = import_legacy_database(messy.path)
    alpha = report.lands[0]

    assert alpha.tables["expression"].created == 4
    assert alpha.tables["media"].created == 6
    if variant == "old":
        # Only id, expression_id, url and type: everything waits for analysis.
        assert set(Media.objects.values_list("analysis_status", "is_processed", "dominant_colors")) == {
            ("pending", False, None)
        }
        assert Land.objects.get(name="alpha").lang == ""
    else:
        one = media("https://cdn.example/One.JPG")
        assert (one.analysis_status, one.dominant_colors[0]["hex"]) == ("done", "#0a151e")
        assert (one.content_tags, one.nsfw_score) == (None, None)
    before = snapshot()
    again = import_legacy_database(messy.path)
    assert (again.created, again.updated) == (0, 0)
    assert snapshot() == before


def test_land_selection_imports_only_named_lands(messy_db):
    report = import_legacy_database(messy_db.path, ["beta"])

    assert [land.name for land in report.lands] == ["beta"]
    assert list(Land.objects.values_list("name", flat=True)) == ["beta"]
    assert list(Expression.objects.values_list("url", flat=True)) == ["https://beta.example/"]
    assert list(Media.objects.values_list("url", flat=True)) == ["https://cdn.example/beta.jpg"]
    assert ExpressionLink.objects.count() == 0
    assert report.lands[0].tables["expressionlink"].skipped == {
        "target's land not imported": 1,
        "source's land not imported": 1,
    }
    assert list(Tag.objects.values_list("name", flat=True)) == ["Beta tag"]


def test_changed_legacy_values_update_existing_rows(messy_db):
    import_legacy_database(messy_db.path, ["alpha"])
    conn = sqlite3.connect(messy_db.path)
    conn.execute('UPDATE "expression" SET "title" = ? WHERE "id" = ?', ("Home, renamed", messy_db.ids["a1"]))
    conn.execute('UPDATE "media" SET "width" = 800 WHERE "id" = ?', (messy_db.ids["m1"],))
    conn.commit()
    conn.close()

    report = import_legacy_database(messy_db.path, ["alpha"])

    alpha = report.lands[0]
    assert report.created == 0
    assert (alpha.tables["expression"].updated, alpha.tables["media"].updated, report.updated) == (1, 1, 2)
    assert page("https://alpha.example/").title == "Home, renamed"
    assert media("https://cdn.example/One.JPG").width == 800


def test_newer_analysis_here_is_kept(messy_db):
    import_legacy_database(messy_db.path, ["alpha"])
    ours = media("https://cdn.example/One.JPG")
    ours.width = 1280
    ours.analyzed_at = datetime(2025, 1, 1, tzinfo=UTC)
    ours.save()
    pending = media("https://cdn.example/pending.gif")
    pending.set_status(AnalysisStatus.DONE)
    pending.analyzed_at = datetime(2025, 1, 1, tzinfo=UTC)
    pending.save()

    report = import_legacy_database(messy_db.path, ["alpha"])

    assert report.updated == 0
    assert report.lands[0].warnings["media analysed again since: our analysis kept"] == 2
    assert media("https://cdn.example/One.JPG").width == 1280
    assert media("https://cdn.example/pending.gif").analysis_status == "done"


def test_existing_rows_are_matched_not_duplicated(messy_db):
    # A domain created by hand and a land of the same name already exist.
    make_domain("alpha.example", title="Ours")
    make_land("alpha", description="Described here")

    report = import_legacy_database(messy_db.path, ["alpha"])

    alpha = report.lands[0]
    assert alpha.created is False
    assert (alpha.tables["land"].updated, alpha.tables["domain"].updated, alpha.tables["domain"].created) == (1, 1, 2)
    assert Land.objects.get().description == "First land"
    assert Domain.objects.get(name="alpha.example").title == "Alpha"
    assert Domain.objects.filter(name="alpha.example").count() == 1


def test_domains_shared_by_lands_are_created_once(tmp_path):
    written = build_sample_database(tmp_path / "sample.db", lands=3, pages_per_land=8, media_per_page=2)

    report = import_legacy_database(tmp_path / "sample.db")

    assert Domain.objects.count() == written["domain"]
    assert report.lands[0].tables["domain"].created == written["domain"]
    assert all(land.tables["domain"].created == 0 for land in report.lands[1:])
    assert Expression.objects.count() == written["expression"]
    assert Media.objects.count() == written["media"]
    assert ExpressionLink.objects.count() == written["expressionlink"]


def test_old_schema_duplicate_domain_names_collapse(tmp_path):
    with LegacyDatabase(tmp_path / "old.db", "old") as db:
        land = db.land("old-land")
        first = db.domain("dup.example")
        second = db.domain("dup.example", title="Fetched one", fetched_at="2024-01-01 00:00:00")
        db.expression(land, "https://dup.example/1", first)
        db.expression(land, "https://dup.example/2", second)

    report = import_legacy_database(tmp_path / "old.db")

    assert report.lands[0].tables["domain"].created == 1
    assert report.lands[0].tables["domain"].skipped == {"duplicate name": 1}
    domain = Domain.objects.get()
    assert domain.title == "Fetched one"
    assert domain.expressions.count() == 2


CROSS_LINKS = {
    ("https://alpha.example/", "https://beta.example/"),
    ("https://beta.example/", "https://alpha.example/"),
}


def cross_links() -> set[tuple[str, str]]:
    return set(ExpressionLink.objects.exclude(source__land=F("target__land")).values_list("source__url", "target__url"))


@pytest.mark.parametrize("order", [["alpha", "beta"], ["beta", "alpha"]])
def test_links_between_lands_imported_in_one_run_are_kept(messy_db, order):
    report = import_legacy_database(messy_db.path, order)

    assert cross_links() == CROSS_LINKS
    assert ExpressionLink.objects.filter(source__land__name="beta", target__land__name="alpha").count() == 1
    # Each link is made once, by the land imported second, and nothing is reported as lost.
    link_counts = [land.tables["expressionlink"] for land in report.lands]
    assert [counts.created for counts in link_counts] == ([3, 2] if order[0] == "alpha" else [0, 5])
    assert not any("land not imported" in reason for counts in link_counts for reason in counts.skipped)

    again = import_legacy_database(messy_db.path, order)
    assert (again.created, again.updated) == (0, 0)
    assert sum(land.tables["expressionlink"].unchanged for land in again.lands) == 5


def test_links_to_a_land_imported_later_are_made_by_its_import(messy_db):
    first = import_legacy_database(messy_db.path, ["alpha"])
    assert first.lands[0].tables["expressionlink"].skipped["target's land not imported"] == 1
    assert cross_links() == set()

    second = import_legacy_database(messy_db.path, ["beta"])

    assert cross_links() == CROSS_LINKS
    assert second.lands[0].tables["expressionlink"].created == 2
    assert "  expressionlink 2 created, 0 already present (0 updated), 0 skipped" in second.summary_lines()


def test_a_link_to_a_page_the_other_land_left_out_is_reported(tmp_path):
    with LegacyDatabase(tmp_path / "mwi.db", "full") as db:
        one, two = db.land("one"), db.land("two")
        source = db.expression(one, "https://one.example/")
        kept = db.expression(two, "https://two.example/kept")
        dropped = db.expression(two, "   ")  # an empty URL: never imported
        db.link(source, kept)
        db.link(source, dropped)

    import_legacy_database(tmp_path / "mwi.db", ["two"])
    report = import_legacy_database(tmp_path / "mwi.db", ["one"])

    assert report.lands[0].tables["expressionlink"].skipped == {"target page not imported": 1}
    assert cross_links() == {("https://one.example/", "https://two.example/kept")}
