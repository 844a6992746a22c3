"""The lands list, the land page and the lands API beside a land of 50,000 media.

Once a land's aggregates are stored, none of these reads a page or a media row:
the queries of every sortable column are pinned and none of them grows with the land.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lands.aggregates import ensure_land_counts, land_aggregates, refresh_land_aggregates
from lands.models import LandAggregates, Media
from media_analysis.texts import frequent
from tests.scale.conftest import BIG_PAGES, MEDIA_PER_PAGE

CORPUS_TABLES = ("lands_media", "lands_expression")
# Session, user, the check for lands without stored counts, the page's rows (the admin's total is the
# row count of a small table).
LANDS_LIST_QUERIES = 5
# (column number in the admin's list, attribute it sorts by)
SORTABLE_COLUMNS = [
    (1, "name"),
    (2, "lang"),
    (4, "expression_count"),
    (5, "media_count"),
    (6, "analysed_count"),
    (7, "failed_count"),
]


def read_corpus_tables(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if any(t in query["sql"] for t in CORPUS_TABLES)]


def get(client, url: str):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response, captured


def test_aggregates_hold_the_counts_of_each_land(scale_corpus):
    refresh_land_aggregates(scale_corpus.big.pk)
    stored = LandAggregates.objects.get(land=scale_corpus.big)
    total = BIG_PAGES * MEDIA_PER_PAGE
    assert (stored.expression_count, stored.media_count) == (BIG_PAGES, total)
    assert stored.analysed_count == Media.objects.of_land(scale_corpus.big.pk).filter(analysis_status="done").count()
    assert stored.analysed_count + stored.failed_count + stored.pending_count == total
    assert dict(map(tuple, stored.figures["formats"])) == {"JPEG": total // 2, "PNG": total // 2}
    assert stored.figures["palette_images"] == total


@pytest.mark.parametrize(("column", "attribute"), SORTABLE_COLUMNS)
@pytest.mark.parametrize("direction", ["", "-"])
def test_lands_list_sorts_by_each_column_without_reading_the_corpus(
    admin_client, scale_corpus, column, attribute, direction
):
    ensure_land_counts()
    url = reverse("admin:lands_land_changelist") + f"?o={direction}{column}"
    response, captured = get(admin_client, url)
    lands = list(response.context["cl"].result_list)
    values = [getattr(land, attribute) for land in lands]
    assert values == sorted(values, reverse=direction == "-")
    assert {land.name for land in lands} == {"Big", "Small", "Tiny"}
    assert len(captured.captured_queries) == LANDS_LIST_QUERIES
    assert read_corpus_tables(captured) == []


def test_lands_list_shows_the_counts_and_fills_missing_ones_once(admin_client, scale_corpus):
    response, captured = get(admin_client, reverse("admin:lands_land_changelist") + "?o=-5")
    assert [land.name for land in response.context["cl"].result_list] == ["Big", "Small", "Tiny"]
    big = response.context["cl"].result_list[0]
    assert (big.expression_count, big.media_count) == (BIG_PAGES, BIG_PAGES * MEDIA_PER_PAGE)
    assert f"{BIG_PAGES * MEDIA_PER_PAGE}" in response.content.decode()
    # The first list counted the lands (grouped queries); the next one reads the stored counts only.
    assert read_corpus_tables(captured)
    _, again = get(admin_client, reverse("admin:lands_land_changelist") + "?o=-5")
    assert read_corpus_tables(again) == []


def test_lands_api_reads_the_stored_counts(admin_client, scale_corpus):
    ensure_land_counts()
    response, captured = get(admin_client, "/api/lands/?page_size=2")
    assert read_corpus_tables(captured) == []
    assert len(captured.captured_queries) == 5  # session, user, missing counts, total, rows
    body = response.json()
    assert body["count"] == 3
    big = next(row for row in body["results"] if row["name"] == "Big")
    assert big["media_count"] == BIG_PAGES * MEDIA_PER_PAGE
    assert big["counts_refreshed_at"]


def test_land_page_draws_its_charts_from_the_stored_figures(admin_client, scale_corpus):
    land_aggregates(scale_corpus.big.pk)
    url = reverse("medianalyse:land-analysis", args=[scale_corpus.big.pk])
    response, captured = get(admin_client, url)
    charts = {chart.chart_id: chart for chart in response.context["charts"]}
    assert charts["chart-formats"].rows == [("JPEG", "25,000 media"), ("PNG", "25,000 media")]
    # Counts, charts and the preview of what "Start" would select all come from the stored aggregates. The
    # one read of the land's rows is the frequent words' sample of texts, bounded by design (texts.frequent).
    sampled = [sql for sql in read_corpus_tables(captured) if "media_analysis_mediatext" in sql]
    assert len(sampled) <= 1
    assert all(f"LIMIT {frequent.SAMPLE}" in sql for sql in sampled)
    assert [sql for sql in read_corpus_tables(captured) if sql not in sampled] == []
    from media_analysis.jobs.parameters import JobParameters
    from media_analysis.jobs.selection import preview_selection

    assert response.context["preview"] == preview_selection(scale_corpus.big.pk, JobParameters())


def test_a_job_end_refreshes_the_land(scale_corpus, django_capture_on_commit_callbacks):
    from media_analysis.jobs import service as jobs
    from media_analysis.models import AnalysisJob, JobStatus

    land_aggregates(scale_corpus.tiny.pk)
    Media.objects.of_land(scale_corpus.tiny.pk).update(analysis_status="done")
    job = AnalysisJob.objects.create(land=scale_corpus.tiny, status=JobStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.fail_job(job.pk, "stopped")
    stored = LandAggregates.objects.get(land=scale_corpus.tiny)
    assert (stored.analysed_count, stored.failed_count, stored.pending_count) == (14, 0, 0)
