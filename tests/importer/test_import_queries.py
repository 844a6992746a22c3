"""The number of queries depends on batches, never on rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lands.importer import import_legacy_database
from lands.models import Expression, Media
from tests.support.legacy_db import REPR_COLOURS, REPR_EXIF, REPR_WEBSAFE, LegacyDatabase

pytestmark = pytest.mark.django_db


def scaled_database(path: Path, pages: int) -> Path:
    """One land of ``pages`` pages, each with one analysed media, one link and one tagged passage.

    The land and its domain are named after the file, so several of these import side by side.
    """
    with LegacyDatabase(path, "full") as db:
        land = db.land(path.stem)
        tag = db.tag(land, "Tag")
        db.insert_many("domain", [{"id": 1, "name": f"{path.stem}.example", "created_at": "2024-01-01 00:00:00"}])
        db.insert_many(
            "expression",
            [
                {
                    "id": i,
                    "land_id": land,
                    "url": f"https://{path.stem}.example/{i}",
                    "domain_id": 1,
                    "created_at": "2024-01-01",
                }
                for i in range(1, pages + 1)
            ],
        )
        db.insert_many("expressionlink", [{"source_id": i, "target_id": i % pages + 1} for i in range(1, pages + 1)])
        db.insert_many(
            "media",
            [
                {
                    "id": i,
                    "expression_id": i,
                    "url": f"https://cdn.example/{i}.jpg",
                    "type": "img",
                    "width": 100,
                    "dominant_colors": REPR_COLOURS,
                    "websafe_colors": REPR_WEBSAFE,
                    "exif_data": REPR_EXIF,
                    "analyzed_at": "2024-03-03 09:15:00",
                }
                for i in range(1, pages + 1)
            ],
        )
        db.insert_many(
            "taggedcontent",
            [
                {"id": i, "tag_id": tag, "expression_id": i, "text": "t", "from_char": 0, "to_char": 1}
                for i in range(1, pages + 1)
            ],
        )
    return path


def queries_of(path: Path, **options) -> int:
    with CaptureQueriesContext(connection) as captured:
        import_legacy_database(path, **options)
    return len(captured.captured_queries)


def test_query_count_does_not_grow_with_rows(tmp_path):
    small = scaled_database(tmp_path / "small.db", 4)
    large = scaled_database(tmp_path / "large.db", 16)

    first_small = queries_of(small)
    rerun_small = queries_of(small)
    first_large = queries_of(large)
    rerun_large = queries_of(large)

    assert Media.objects.count() == 4 + 16
    assert Expression.objects.filter(land__name="large").count() == 16
    # Both sizes fit in one batch: the same queries whatever the number of rows.
    assert first_small == first_large
    assert rerun_small == rerun_large
    # The import's own queries, then a fixed few that store the land's counts and chart figures.
    assert first_large <= 26
    assert rerun_large <= 26


def test_query_count_grows_with_batches_only(tmp_path):
    path = scaled_database(tmp_path / "batched.db", 120)

    in_one_batch = queries_of(path, batch_size=1000)
    rerun_in_one_batch = queries_of(path, batch_size=1000)
    rerun_in_batches_of_30 = queries_of(path, batch_size=30)

    assert Media.objects.count() == 120
    # 120 rows of 6 tables: far fewer queries than rows (SQLite caps rows per INSERT by its 999 parameters).
    assert in_one_batch < 40
    assert rerun_in_one_batch <= 20
    # Re-reading in 4 batches adds a few lookups per batched table, not one per row.
    assert rerun_in_one_batch < rerun_in_batches_of_30 <= rerun_in_one_batch + 4 * 4
