"""The admin's media and expression lists beside a land of 50,000 media: no full count to show a page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lands.aggregates import ensure_land_counts
from lands.models import Media
from lands.pagination import COUNT_CAP, AtLeast, Estimate, EstimatedCountPaginator
from tests.scale.conftest import BIG_PAGES, MEDIA_PER_PAGE


def get(client, url: str):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response, captured


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("media", ""),
        ("media", "?analysis_status__exact=done"),
        ("media", "?expression__land__id__exact={big}"),
        ("expression", "?land__id__exact={big}"),
    ],
)
def test_long_lists_count_no_further_than_the_cap(admin_client, scale_corpus, model, query):
    url = reverse(f"admin:lands_{model}_changelist") + query.format(big=scale_corpus.big.pk)
    response, captured = get(admin_client, url)
    cl = response.context["cl"]
    assert len(cl.result_list) == cl.list_per_page
    if model == "expression":
        assert cl.result_count == BIG_PAGES
    else:
        assert cl.result_count > COUNT_CAP
        assert "more than 10,000" in response.content.decode() or "about " in response.content.decode()
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the list still says how many rows match"
    assert all("LIMIT" in sql.upper() for sql in counts)


def test_a_short_filtered_list_keeps_its_exact_count(admin_client, scale_corpus):
    url = reverse("admin:lands_media_changelist") + f"?expression__land__id__exact={scale_corpus.tiny.pk}"
    response, _ = get(admin_client, url)
    assert response.context["cl"].result_count == 14
    assert type(response.context["cl"].result_count) is int


def test_paginator_totals(scale_corpus):
    total = BIG_PAGES * MEDIA_PER_PAGE
    capped = EstimatedCountPaginator(Media.objects.filter(analysis_status="done"), 100).count
    assert isinstance(capped, AtLeast)
    assert (int(capped), str(capped)) == (COUNT_CAP + 1, "more than 10,000")
    assert EstimatedCountPaginator(Media.objects.filter(expression__land=scale_corpus.small), 100).count == 90
    everything = EstimatedCountPaginator(Media.objects.all(), 100).count
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE lands_media")
        everything = EstimatedCountPaginator(Media.objects.all(), 100).count
        assert isinstance(everything, Estimate)
        assert abs(int(everything) - (total + 104)) < total // 10
        assert str(everything).startswith("about ")
    else:
        assert isinstance(everything, AtLeast)
    assert EstimatedCountPaginator([1, 2, 3], 2).count == 3


def test_the_media_list_of_a_dense_land_walks_the_media_by_id(admin_client, scale_corpus):
    ensure_land_counts()
    for land, dense in ((scale_corpus.big, True), (scale_corpus.tiny, False)):
        url = reverse("admin:lands_media_changelist") + f"?expression__land__id__exact={land.pk}"
        response, captured = get(admin_client, url)
        expected = list(Media.objects.of_land(land.pk).order_by("pk").values_list("pk", flat=True)[:100])
        assert [media.pk for media in response.context["cl"].result_list] == expected
        rows = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('SELECT "lands_media"."id",')]
        assert len(rows) == 1
        assert ("EXISTS" in rows[0].upper()) is dense
