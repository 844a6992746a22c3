"""The API's media and expression lists beside a land of 50,000 media: a deep page costs what the first does."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.pagination import Cursor

from lands.aggregates import ensure_land_counts, is_dense_land
from lands.models import Expression, Media
from media_analysis.web.api.query import CorpusCursorPagination


def deep_cursor(position: int) -> str:
    encoder = CorpusCursorPagination()
    encoder.base_url = "http://testserver/"
    return encoder.encode_cursor(Cursor(offset=0, reverse=False, position=position)).split("cursor=")[1]


@pytest.mark.parametrize(("path", "model"), [("/api/media/", Media), ("/api/expressions/", Expression)])
def test_a_deep_page_is_one_keyset_select(admin_client, scale_corpus, path, model):
    ids = list(model.objects.order_by("pk").values_list("pk", flat=True))
    position = ids[int(len(ids) * 0.9)]
    url = f"{path}?page_size=100&cursor={deep_cursor(position)}"
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(url)
    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["results"]] == ids[ids.index(position) + 1 : ids.index(position) + 101]
    assert body["next"]
    assert body["previous"]
    pages = [q["sql"].upper() for q in captured.captured_queries if model._meta.db_table.upper() in q["sql"].upper()]
    assert len(pages) == 1
    assert "COUNT(" not in pages[0]
    assert "OFFSET" not in pages[0]
    assert "LIMIT 101" in pages[0]


@pytest.mark.parametrize(("which", "dense"), [("big", True), ("tiny", False)])
def test_a_land_s_media_are_paged_in_id_order_whatever_its_share(admin_client, scale_corpus, which, dense):
    ensure_land_counts()
    land = getattr(scale_corpus, which)
    assert is_dense_land(land.pk) is dense
    expected = list(Media.objects.of_land(land.pk).order_by("pk").values_list("pk", flat=True))
    position = expected[len(expected) // 2]
    start = expected.index(position) + 1
    for url, rows in (
        (f"/api/media/?land={land.pk}&page_size=5", expected[:5]),
        (f"/api/media/?land={land.pk}&page_size=5&cursor={deep_cursor(position)}", expected[start : start + 5]),
    ):
        with CaptureQueriesContext(connection) as captured:
            body = admin_client.get(url).json()
        assert [row["id"] for row in body["results"]] == rows
        page = next(q["sql"].upper() for q in captured.captured_queries if "LIMIT 6" in q["sql"].upper())
        # A dense land walks the media by id and probes each one's page; a sparse one joins its pages.
        assert ("EXISTS" in page) is dense
    gallery = admin_client.get(reverse("medianalyse:land-gallery", args=[land.pk]))
    shown = [item["media"].pk for item in gallery.context["items"]]
    assert shown == expected[: len(shown)]
