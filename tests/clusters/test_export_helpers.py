"""What the exports read from the clusters: cluster ids of media, the clustercsv rows, a GEXF grouping key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db.models import TextField, Value
from django.db.models.functions import Concat

from lands.models import Media
from media_analysis.clusters import compute, exports
from tests.clusters.conftest import EDITS, analysed_media, build_photo_land
from tests.factories import make_domain, make_expression

pytestmark = pytest.mark.django_db


@pytest.fixture
def built(photos):
    built = build_photo_land(photos, [0, 1], list(EDITS))
    built.lone = analysed_media(make_expression(built.land), photos.analysis(4))
    # Picture 1 shown once more on a page of a new domain, published before everything else.
    early = make_expression(
        built.land, make_domain(), relevance=9, depth=0, published_at=datetime(2010, 5, 1, tzinfo=UTC)
    )
    built.early = analysed_media(early, photos.analysis(1, "jpeg50"), url="https://early.example/first.jpg")
    compute.recluster_land(built.land.pk)
    return built


def test_cluster_ids_for_maps_clustered_media_only(built, django_assert_num_queries):
    ids = [m.pk for m in built.media.values()] + [built.lone.pk, 10**9]

    with django_assert_num_queries(1):
        found = exports.cluster_ids_for(ids)

    assert set(found) == {m.pk for m in built.media.values()}
    assert found[built.media[(0, "half")].pk] == found[built.media[(0, "original")].pk]
    assert found[built.media[(0, "half")].pk] != found[built.media[(1, "half")].pk]


def test_cluster_rows_have_the_documented_columns_most_spread_first(built, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = list(exports.iter_cluster_rows(built.land.pk))

    assert [list(row) for row in rows] == [list(exports.CLUSTER_CSV_COLUMNS)] * 2
    first, second = rows
    assert (first["size"], first["land_size"], first["distinct_domains"]) == (8, 8, 5)
    assert (second["size"], second["distinct_domains"], second["distinct_pages"]) == (7, 4, 7)
    assert first["first_seen_at"] == datetime(2010, 5, 1, tzinfo=UTC)
    assert first["first_page_url"] == Media.objects.get(pk=built.early.pk).expression.url
    assert first["media_ids"][0] == built.early.pk
    assert sorted(first["media_ids"]) == sorted([*built.ids(1), built.early.pk])
    assert first["domains"][0] == built.early.expression.domain.name
    assert len(first["domains"]) == 5
    cluster = Media.objects.get(pk=built.early.pk).cluster
    assert (first["cluster_id"], first["representative_id"]) == (cluster.pk, cluster.representative_id)
    assert first["representative_url"] == Media.objects.get(pk=cluster.representative_id).url


def test_cluster_rows_follow_the_page_filters(built):
    # Relevance is the copy's rank (the original 0, copies 1-6; the early page 9).
    rows = list(exports.iter_cluster_rows(built.land.pk, minrel=5))
    assert [(row["size"], row["land_size"]) for row in rows] == [(3, 8), (2, 7)]
    assert rows[0]["first_seen_at"] == datetime(2010, 5, 1, tzinfo=UTC)

    shallow = list(exports.iter_cluster_rows(built.land.pk, depth=0))
    assert [(row["size"], row["media_ids"]) for row in shallow] == [
        (2, [built.early.pk, built.media[(1, "original")].pk]),
        (1, [built.media[(0, "original")].pk]),
    ]
    assert list(exports.iter_cluster_rows(built.land.pk, minrel=100)) == []


def test_cluster_key_groups_a_cluster_into_one_node(built):
    fallback = Concat(Value("url:"), "url", output_field=TextField())
    keys = dict(
        exports.with_cluster_key(Media.objects.filter(expression__land=built.land), fallback).values_list(
            "id", "node_key"
        )
    )

    cluster_id = Media.objects.get(pk=built.media[(0, "original")].pk).cluster_id
    assert {keys[m.pk] for (p, _), m in built.media.items() if p == 0} == {f"cluster:{cluster_id}"}
    assert keys[built.lone.pk] == f"url:{built.lone.url}"
