"""Every display tells "failed now; values from <date>" apart from a clean success, and filters on it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from lands.models import AnalysisStatus
from media_analysis.engine.version import ANALYSIS_VERSION, CRAWLER_VERSION
from tests.factories import make_expression, make_land, make_media

pytestmark = pytest.mark.django_db

EARLIER = datetime(2024, 3, 3, 9, 15, tzinfo=UTC)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def media():
    page = make_expression(make_land("Kept values"))
    image = {"width": 640, "height": 480, "format": "JPEG", "phash": "8000000000000000"}
    clean = make_media(
        page,
        analysis_status=AnalysisStatus.DONE,
        is_processed=True,
        analysis_version=ANALYSIS_VERSION,
        values_at=NOW,
        analyzed_at=NOW,
        **image,
    )
    failed_now = make_media(
        page,
        analysis_status=AnalysisStatus.FAILED,
        is_processed=True,
        error_class="not_an_image",
        analysis_error="HTML served as an image",
        analysis_version=ANALYSIS_VERSION,
        values_at=EARLIER,
        analyzed_at=NOW,
        **image,
    )
    imported_pending = make_media(
        page, analysis_version=CRAWLER_VERSION, values_at=EARLIER, analyzed_at=EARLIER, image_hash="b" * 64
    )
    never = make_media(page)
    return {"clean": clean, "failed_now": failed_now, "imported_pending": imported_pending, "never": never}


def test_the_api_says_whether_values_are_the_latest_attempts(media, staff_api_client):
    rows = {row["id"]: row for row in staff_api_client.get("/api/media/").json()["results"]}
    clean, failed = rows[media["clean"].pk], rows[media["failed_now"].pk]

    assert (clean["analysis_status"], clean["values_are_current"], clean["analysis_version"]) == (
        "done",
        True,
        ANALYSIS_VERSION,
    )
    assert clean["values_at"] == "2025-06-01T12:00:00Z"
    assert (failed["analysis_status"], failed["values_are_current"], failed["width"]) == ("failed", False, 640)
    assert failed["values_at"] == "2024-03-03T09:15:00Z"
    assert (
        failed["values_note"] == f"failed now; values from 2024-03-03 09:15 UTC (analysis, version {ANALYSIS_VERSION})"
    )
    assert rows[media["never"].pk]["values_are_current"] is False
    assert rows[media["imported_pending"].pk]["analysis_version"] == CRAWLER_VERSION

    earlier = staff_api_client.get("/api/media/?earlier_values=true").json()["results"]
    assert {row["id"] for row in earlier} == {media["failed_now"].pk, media["imported_pending"].pk}
    others = staff_api_client.get("/api/media/?earlier_values=false").json()["results"]
    assert {row["id"] for row in others} == {media["clean"].pk, media["never"].pk}
    # The status filter keeps meaning "latest attempt".
    done = staff_api_client.get("/api/media/?status=done").json()["results"]
    assert [row["id"] for row in done] == [media["clean"].pk]


def test_the_media_admin_shows_and_filters_earlier_values(media, admin_client):
    changelist = reverse("admin:lands_media_changelist")
    html = admin_client.get(changelist).content.decode()
    assert "failed now; values from 2024-03-03 09:15 UTC" in html
    assert "not analysed here yet; values from 2024-03-03 09:15 UTC (the crawler&#x27;s analysis, version 0)" in html

    response = admin_client.get(changelist, {"earlier_values": "yes"})
    assert {m.pk for m in response.context["cl"].result_list} == {media["failed_now"].pk, media["imported_pending"].pk}
    response = admin_client.get(changelist, {"earlier_values": "no"})
    assert {m.pk for m in response.context["cl"].result_list} == {media["clean"].pk, media["never"].pk}

    detail = admin_client.get(reverse("admin:lands_media_change", args=[media["failed_now"].pk])).content.decode()
    assert "failed now; values from 2024-03-03 09:15 UTC" in detail
    assert "Analysis version" in detail


def test_the_gallery_marks_and_filters_earlier_values(media, admin_client):
    land = media["clean"].expression.land
    url = reverse("medianalyse:land-gallery", args=[land.pk])
    html = admin_client.get(url).content.decode()
    assert "Failed now; values from 2024-03-03 09:15 UTC" in html
    assert html.count('class="ma-earlier-values"') == 2

    response = admin_client.get(url, {"earlier_values": "yes"})
    assert {item["media"].pk for item in response.context["items"]} == {
        media["failed_now"].pk,
        media["imported_pending"].pk,
    }
    response = admin_client.get(url, {"earlier_values": "no", "status": "failed"})
    assert list(response.context["items"]) == []
