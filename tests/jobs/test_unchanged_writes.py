"""Writing a chunk's 304s: the rows whose validators the 304 confirmed share one UPDATE; the others are written
row by row. Either way each row records the check, keeps its values and counts the attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from lands.models import AnalysisStatus, Media
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.jobs import batch as media_batch
from media_analysis.jobs.batch import BatchResult, MediaOutcome, load_rows, record_outcomes
from tests.factories import make_expression, make_land, make_media

pytestmark = pytest.mark.django_db


def _analysed(page, n: int, **fields) -> Media:
    earlier = timezone.now() - timedelta(days=3)
    values = {
        "analysis_status": AnalysisStatus.FAILED,  # the latest attempt failed; the values of the one before stay
        "is_processed": True,
        "analysis_version": ANALYSIS_VERSION,
        "values_at": earlier,
        "analyzed_at": earlier,
        "width": 640 + n,
        "image_hash": f"{n:064x}",
        "http_etag": f'"v{n}"',
        "http_last_modified": "Tue, 01 Dec 2026 10:00:00 GMT",
        "error_class": "network",
        "analysis_error": "connection reset",
        "attempts": n,
        **fields,
    }
    return make_media(page, url=f"https://img.example/{n}.png", **values)


def test_304s_are_recorded_on_every_row_with_confirmed_and_new_validators(monkeypatch):
    page = make_expression(make_land(), depth=0, relevance=1)
    media = [_analysed(page, n) for n in range(1, 6)]
    statements: list[int] = []
    real = media_batch.write_confirmed

    def counted(rows, now):
        statements.append(len(rows))
        real(rows, now)

    monkeypatch.setattr(media_batch, "write_confirmed", counted)
    rows, missing = load_rows([m.pk for m in media])
    outcomes = [
        MediaOutcome(
            m.pk,
            m.url,
            "img",
            "unchanged",
            fields={"http_etag": m.http_etag, "http_last_modified": m.http_last_modified},
        )
        for m in media[1:]
    ]
    # The first one's 304 carried a new ETag: that one is written with it.
    new = {"http_etag": '"v1-b"', "http_last_modified": media[0].http_last_modified}
    outcomes.insert(0, MediaOutcome(media[0].pk, media[0].url, "img", "unchanged", fields=new))
    before = timezone.now()
    result = record_outcomes(rows, outcomes, BatchResult(skipped=missing))
    assert (result.unchanged, result.processed) == (5, 5)
    assert statements == [4]  # the four confirmed rows, in one call
    for original in media:
        row = Media.objects.get(pk=original.pk)
        assert (row.analysis_status, row.is_processed, row.error_class, row.analysis_error) == (
            AnalysisStatus.DONE,
            True,
            None,
            None,
        )
        assert row.attempts == original.attempts + 1
        assert row.checked_at is not None
        assert row.checked_at >= before
        assert row.analyzed_at == row.checked_at
        # The values and their date stay those of the analysis the 304 confirmed.
        assert (row.width, row.image_hash, row.values_at) == (original.width, original.image_hash, original.values_at)
        expected_etag = '"v1-b"' if original.pk == media[0].pk else original.http_etag
        assert (row.http_etag, row.http_last_modified) == (expected_etag, original.http_last_modified)
