"""Helpers for the admin and API tests."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from lands.models import AnalysisStatus, Land
from tests.factories import make_expression, make_media


def grow_land(land: Land, pages: int, media_per_page: int = 2) -> None:
    """More rows of every kind, so a query count that depends on rows would show it."""
    for _ in range(pages):
        expression = make_expression(land, depth=1, relevance=3, http_status="200")
        for index in range(media_per_page):
            status = AnalysisStatus.DONE if index % 2 == 0 else AnalysisStatus.FAILED
            make_media(
                expression,
                analysis_status=status,
                format="JPEG" if status == AnalysisStatus.DONE else None,
                error_class="network" if status == AnalysisStatus.FAILED else None,
                dominant_colors=[{"hex": "#aabbcc", "percentage": 50.0}],
            )


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(captured)
