"""An imported land analysed here: the default selection takes it, and each status is the latest attempt's."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from lands.importer import import_legacy_database
from lands.models import AnalysisStatus, Land, Media
from media_analysis.engine.version import ANALYSIS_VERSION, CRAWLER_VERSION
from media_analysis.jobs.batch import analyse_media
from media_analysis.jobs.parameters import parse_parameters
from media_analysis.jobs.selection import select_media
from tests.support.http_server import Reply
from tests.support.legacy_db import LegacyDatabase

pytestmark = pytest.mark.django_db

ANALYSED_AT = datetime(2024, 3, 3, 9, 15, tzinfo=UTC)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def imported(tmp_path, http_server):
    http_server.route("/good.png", Reply(body=_png(), content_type="image/png"))
    http_server.route("/error-page.png", Reply(body=b"<!doctype html><p>gone", content_type="image/png"))
    with LegacyDatabase(tmp_path / "mwi.db", "full") as db:
        page = db.expression(db.land("imported"), "https://site.example/")
        analysed = {"analyzed_at": "2024-03-03 09:15:00", "image_hash": "c" * 64}
        db.media(page, http_server.url("/good.png"), width=640, height=480, format="PNG", **analysed)
        db.media(page, http_server.url("/error-page.png"), file_size=22, **analysed)
    import_legacy_database(tmp_path / "mwi.db")
    land = Land.objects.get(name="imported")
    good = Media.objects.get(url=http_server.url("/good.png"))
    error_page = Media.objects.get(url=http_server.url("/error-page.png"))
    return land, good, error_page


def _run(land: Land, **raw) -> None:
    analyse_media(list(select_media(land, parse_parameters(raw)).values_list("pk", flat=True)))


@pytest.mark.parametrize("raw", [{}, {"force": True}], ids=["default", "force"])
def test_an_imported_land_is_analysed_again_and_says_what_the_latest_attempt_found(imported, raw):
    land, good, error_page = imported
    assert (good.analysis_status, error_page.analysis_status) == (AnalysisStatus.DONE, AnalysisStatus.PENDING)
    # Both are taken without force: one is pending, the other holds the crawler's version-0 values.
    assert set(select_media(land, parse_parameters({})).values_list("pk", flat=True)) == {good.pk, error_page.pk}

    _run(land, **raw)

    good.refresh_from_db()
    error_page.refresh_from_db()
    assert (good.analysis_status, good.analysis_version, good.width, good.format) == (
        AnalysisStatus.DONE,
        ANALYSIS_VERSION,
        32,
        "PNG",
    )
    assert good.values_at == good.analyzed_at
    assert good.phash is not None
    assert good.values_are_current
    # The error page fails now; the crawler's values stay, marked as such.
    assert (error_page.analysis_status, error_page.error_class) == (AnalysisStatus.FAILED, "not_an_image")
    assert (error_page.image_hash, error_page.file_size) == ("c" * 64, 22)
    assert (error_page.analysis_version, error_page.values_at) == (CRAWLER_VERSION, ANALYSED_AT)
    assert error_page.values_note.startswith("failed now; values from 2024-03-03 09:15 UTC (the crawler's analysis")
    # Nothing left to do by default; the failure waits for retry_failed.
    assert not select_media(land, parse_parameters({})).exists()
    assert list(select_media(land, parse_parameters({"retry_failed": True}))) == [error_page]
