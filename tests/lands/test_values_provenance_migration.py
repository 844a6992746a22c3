"""The data migration that maps existing media to the latest-attempt status and records their values' origin."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pytest
from django.apps import apps

from lands.models import CRAWLER_ANALYSIS_VERSION, AnalysisStatus, Media
from media_analysis.engine.version import CRAWLER_VERSION
from tests.factories import make_expression, make_land, make_media

pytestmark = pytest.mark.django_db

migration = importlib.import_module("lands.migrations.0004_media_values_provenance")

WHEN = datetime(2024, 3, 3, 9, 15, tzinfo=UTC)
LATER = datetime(2025, 1, 2, 10, 0, tzinfo=UTC)
DONE = {"analysis_status": AnalysisStatus.DONE, "is_processed": True}
FAILED = {"analysis_status": AnalysisStatus.FAILED, "is_processed": True}
IMAGE = {"width": 640, "height": 480, "format": "JPEG", "mime_type": "image/jpeg", "image_hash": "a" * 64}


def test_the_crawler_version_is_the_engines():
    assert CRAWLER_ANALYSIS_VERSION == CRAWLER_VERSION


def test_existing_rows_are_mapped_to_the_new_rule():
    page = make_expression(make_land())
    rows = {
        # Imported from the crawler with a real result: done, the crawler's values.
        "imported_good": make_media(page, analyzed_at=WHEN, **DONE, **IMAGE),
        # Imported "done" with only the hash of an error page: pending, values kept.
        "imported_error_page": make_media(page, analyzed_at=WHEN, image_hash="b" * 64, **DONE),
        # Analysed here successfully.
        "ours": make_media(page, analyzed_at=LATER, attempts=1, phash="8000000000000000", **DONE, **IMAGE),
        # Analysed here, then a later attempt failed: the old rule kept "done".
        "ours_then_failed": make_media(
            page, analyzed_at=LATER, attempts=2, phash="8000000000000000", error_class="http_status", **DONE, **IMAGE
        ),
        # Imported, then forced here and failed: the crawler's values under "done" and an error.
        "imported_then_failed": make_media(
            page, analyzed_at=LATER, attempts=1, error_class="corrupt_image", **DONE, **IMAGE
        ),
        # Never analysed, and failed without any value.
        "never": make_media(page),
        "failed_only": make_media(page, analyzed_at=LATER, attempts=1, error_class="timeout", **FAILED),
    }

    migration.record_values_provenance(apps, None)

    got = {
        name: Media.objects.values_list("analysis_status", "is_processed", "analysis_version", "values_at").get(
            pk=media.pk
        )
        for name, media in rows.items()
    }
    assert got == {
        "imported_good": ("done", True, 0, WHEN),
        "imported_error_page": ("pending", False, 0, WHEN),
        "ours": ("done", True, 1, LATER),
        "ours_then_failed": ("failed", True, 1, LATER),
        "imported_then_failed": ("failed", True, 0, LATER),
        "never": ("pending", False, None, None),
        "failed_only": ("failed", True, None, None),
    }
    # Values are never touched.
    kept = Media.objects.get(pk=rows["ours_then_failed"].pk)
    assert (kept.width, kept.height, kept.phash, kept.error_class) == (640, 480, "8000000000000000", "http_status")
    assert Media.objects.get(pk=rows["imported_error_page"].pk).image_hash == "b" * 64
