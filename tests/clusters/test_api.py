"""Clusters in the REST API: a land's clusters, a cluster's details, a media's cluster."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from lands.models import Media
from media_analysis.clusters import compute
from media_analysis.models import ImageCluster
from tests.clusters.conftest import EDITS, analysed_media, build_photo_land
from tests.factories import make_domain, make_expression

pytestmark = pytest.mark.django_db


@pytest.fixture
def clustered(photos):
    """Picture 0 with every copy (4 domains), picture 1 with two copies (2 domains), picture 2 alone."""
    built = build_photo_land(photos, [0], list(EDITS))
    home, mirror_site = make_domain(), make_domain()
    for edit, domain in (("original", home), ("half", mirror_site), ("grey", mirror_site)):
        media = analysed_media(make_expression(built.land, domain, relevance=1), photos.analysis(1, edit))
        built.media[(1, edit)] = media
        built.truth[media.pk] = 1
    built.media[(2, "original")] = analysed_media(make_expression(built.land), photos.analysis(2))
    compute.recluster_land(built.land.pk)
    return built


def test_a_land_lists_its_clusters_most_spread_first(clustered, staff_api_client):
    response = staff_api_client.get(f"/api/lands/{clustered.land.pk}/clusters/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    first, second = body["results"]
    assert (first["members"], first["distinct_domains"], second["members"], second["distinct_domains"]) == (7, 4, 3, 2)
    assert first["representative"] == ImageCluster.objects.get(pk=first["id"]).representative_id
    assert first["representative_url"].startswith("https://")
    assert first["first_seen_at"] == "2020-01-01T00:00:00Z"
    assert first["first_page"] == clustered.media[(0, "original")].expression_id
    assert first["first_domain"] == clustered.domains[0].name
    assert first["url"] == f"http://testserver/api/clusters/{first['id']}/"
    assert first["land"] == clustered.land.pk


@pytest.mark.parametrize(
    ("query", "expected_members"),
    [
        ("ordering=size", [7, 3]),
        ("ordering=first_seen", [7, 3]),
        ("ordering=recent", [3, 7]),
        ("min_size=4", [7]),
        ("min_domains=3", [7]),
        ("min_domains=5", []),
        ("page_size=1", [7]),
        ("page_size=1&page=2", [3]),
        ("ordering=", [7, 3]),
    ],
)
def test_cluster_list_parameters(clustered, staff_api_client, query, expected_members):
    response = staff_api_client.get(f"/api/lands/{clustered.land.pk}/clusters/?{query}")
    assert response.status_code == 200, response.content
    assert [row["members"] for row in response.json()["results"]] == expected_members


@pytest.mark.parametrize(
    ("query", "field"),
    [("ordering=largest", "ordering"), ("min_size=1", "min_size"), ("min_domains=x", "min_domains")],
)
def test_bad_cluster_list_parameters_are_400s_naming_the_parameter(clustered, staff_api_client, query, field):
    response = staff_api_client.get(f"/api/lands/{clustered.land.pk}/clusters/?{query}")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_unknown_land_and_anonymous_requests(clustered, staff_api_client):
    assert staff_api_client.get("/api/lands/999999/clusters/").status_code == 404
    assert staff_api_client.get("/api/lands/abc/clusters/").status_code == 404
    assert staff_api_client.get("/api/clusters/abc/").status_code == 404
    assert APIClient().get(f"/api/lands/{clustered.land.pk}/clusters/").status_code == 401


def test_a_media_names_its_cluster_with_size_and_link(clustered, staff_api_client):
    member = clustered.media[(1, "grey")]
    body = staff_api_client.get(f"/api/media/{member.pk}/").json()
    cluster = Media.objects.get(pk=member.pk).cluster

    assert body["cluster"] == {"id": cluster.pk, "size": 3, "url": f"http://testserver/api/clusters/{cluster.pk}/"}
    lone = staff_api_client.get(f"/api/media/{clustered.media[(2, 'original')].pk}/").json()
    assert lone["cluster"] is None
    listed = staff_api_client.get(f"/api/media/?land={clustered.land.pk}&page_size=100").json()["results"]
    assert {row["id"]: row["cluster"] and row["cluster"]["size"] for row in listed}[member.pk] == 3


def test_cluster_details_list_the_timeline_and_domains(clustered, staff_api_client):
    cluster_id = Media.objects.get(pk=clustered.media[(0, "original")].pk).cluster_id

    response = staff_api_client.get(f"/api/clusters/{cluster_id}/")

    assert response.status_code == 200
    body = response.json()
    assert body["members"] == 7
    assert body["timeline_truncated"] is False
    assert [entry["date_source"] for entry in body["timeline"]] == ["published", *["fetched"] * 6]
    assert body["timeline"][0]["media"] == clustered.media[(0, "original")].pk
    assert body["timeline"][0]["domain"] == clustered.domains[0].name
    assert sum(row["media"] for row in body["domains"]) == 7
    assert staff_api_client.get("/api/clusters/999999/").status_code == 404


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_query_counts_are_pinned_and_do_not_grow(clustered, photos, staff_api_client):
    land = clustered.land.pk
    cluster_id = Media.objects.get(pk=clustered.media[(0, "original")].pk).cluster_id
    urls = {
        f"/api/lands/{land}/clusters/": 3,  # land exists, count, page
        f"/api/clusters/{cluster_id}/": 3,  # cluster, members, domains
        f"/api/media/{clustered.media[(0, 'grey')].pk}/": 1,
        f"/api/media/?land={land}": 2,  # the land's share of all media, the page by cursor
    }
    assert {url: _queries(staff_api_client, url) for url in urls} == urls

    for picture in range(3, 8):
        for edit in ("original", "half", "caption"):
            analysed_media(make_expression(clustered.land, make_domain()), photos.analysis(picture, edit))
    compute.recluster_land(land)
    assert ImageCluster.objects.filter(land=clustered.land).count() == 7
    assert {url: _queries(staff_api_client, url) for url in urls} == urls


def test_openapi_schema_has_the_cluster_endpoints_without_warnings():
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    assert [message for message in messages if "lands/api" in message or "cluster" in message.lower()] == []
    params = {p["name"] for p in schema["paths"]["/api/lands/{id}/clusters/"]["get"]["parameters"]}
    assert {"ordering", "min_size", "min_domains", "page", "page_size"} <= params
    assert "/api/clusters/{id}/" in schema["paths"]
    media = schema["components"]["schemas"]["Media"]["properties"]
    assert media["cluster"]["nullable"] is True
