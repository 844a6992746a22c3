"""Imported media are done only when the crawler read an image; its values are kept and marked as version 0."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lands.importer import import_legacy_database
from lands.models import AnalysisStatus, Media
from media_analysis.engine.version import CRAWLER_VERSION
from tests.support.legacy_db import REPR_COLOURS, LegacyDatabase

pytestmark = pytest.mark.django_db

ANALYSED = "2024-03-03 09:15:00"
ANALYSED_AT = datetime(2024, 3, 3, 9, 15, tzinfo=UTC)
GOOD = {"width": 640, "height": 480, "format": "JPEG", "color_mode": "RGB", "image_hash": "a" * 64}


def build(path, rows: dict[str, dict]) -> None:
    with LegacyDatabase(path, "full") as db:
        land = db.land("statuses")
        page = db.expression(land, "https://site.example/")
        for name, fields in rows.items():
            db.media(page, f"https://cdn.example/{name}", **fields)


def state(name: str) -> tuple:
    return Media.objects.values_list("analysis_status", "is_processed", "analysis_version", "values_at").get(
        url=f"https://cdn.example/{name}"
    )


def test_only_a_real_result_is_imported_as_done(tmp_path):
    build(
        tmp_path / "mwi.db",
        {
            "good.jpg": {**GOOD, "analyzed_at": ANALYSED},
            # An error page: the crawler hashed the HTML and recorded no error.
            "error-page.jpg": {"image_hash": "b" * 64, "file_size": 1234, "analyzed_at": ANALYSED},
            "no-format.jpg": {"width": 10, "height": 10, "analyzed_at": ANALYSED},
            "zero-size.jpg": {**GOOD, "width": 0, "analyzed_at": ANALYSED},
            "colours-only.jpg": {"dominant_colors": REPR_COLOURS, "analyzed_at": ANALYSED},
            "failed.jpg": {"analyzed_at": ANALYSED, "analysis_error": "cannot identify image file"},
            "never.jpg": {},
        },
    )

    import_legacy_database(tmp_path / "mwi.db")

    done, pending, failed = AnalysisStatus.DONE, AnalysisStatus.PENDING, AnalysisStatus.FAILED
    assert state("good.jpg") == (done, True, CRAWLER_VERSION, ANALYSED_AT)
    assert state("error-page.jpg") == (pending, False, CRAWLER_VERSION, ANALYSED_AT)
    assert state("no-format.jpg") == (pending, False, CRAWLER_VERSION, ANALYSED_AT)
    assert state("zero-size.jpg") == (pending, False, CRAWLER_VERSION, ANALYSED_AT)
    assert state("colours-only.jpg") == (pending, False, CRAWLER_VERSION, ANALYSED_AT)
    assert state("failed.jpg") == (failed, True, None, None)
    assert state("never.jpg") == (pending, False, None, None)

    # The crawler's values are kept, and said to be the crawler's.
    error_page = Media.objects.get(url="https://cdn.example/error-page.jpg")
    assert (error_page.image_hash, error_page.file_size, error_page.width) == ("b" * 64, 1234, None)
    assert error_page.has_earlier_values
    assert error_page.values_note == (
        "not analysed here yet; values from 2024-03-03 09:15 UTC (the crawler's analysis, version 0)"
    )
    good = Media.objects.get(url="https://cdn.example/good.jpg")
    assert good.values_are_current
    assert good.values_note == "values from 2024-03-03 09:15 UTC (the crawler's analysis, version 0)"


def test_reimport_changes_nothing_and_a_newer_analysis_here_is_kept(tmp_path):
    build(
        tmp_path / "mwi.db",
        {
            "good.jpg": {**GOOD, "analyzed_at": ANALYSED},
            "error-page.jpg": {"image_hash": "b" * 64, "analyzed_at": ANALYSED},
        },
    )
    import_legacy_database(tmp_path / "mwi.db")
    ours = Media.objects.get(url="https://cdn.example/error-page.jpg")
    ours.set_status(AnalysisStatus.FAILED)
    ours.error_class = "not_an_image"
    ours.analyzed_at = datetime(2025, 1, 1, tzinfo=UTC)
    ours.attempts = 1
    ours.save()

    again = import_legacy_database(tmp_path / "mwi.db")

    assert (again.created, again.updated) == (0, 0)
    assert state("good.jpg") == (AnalysisStatus.DONE, True, CRAWLER_VERSION, ANALYSED_AT)
    # Our failure is newer than the crawler's attempt: it stays the status, with the crawler's values beside it.
    assert state("error-page.jpg") == (AnalysisStatus.FAILED, True, CRAWLER_VERSION, ANALYSED_AT)
