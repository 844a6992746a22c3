"""A cluster's page and its API answer in the same queries whatever the number of members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lands.models import AnalysisStatus, Media
from media_analysis.models import ImageCluster
from media_analysis.web.admin.clusters import MEMBERS_SHOWN
from tests.factories import make_domain, make_expression, make_land


def _cluster(members: int) -> ImageCluster:
    """A cluster of ``members`` images over pages of a few domains, as the clustering leaves it."""
    land = make_land()
    domains = [make_domain() for _ in range(3)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pages = [
        make_expression(land, domains[index % 3], published_at=start + timedelta(days=index))
        for index in range(max(1, members // 5))
    ]
    media = Media.objects.bulk_create(
        Media(
            expression=pages[index % len(pages)],
            url=f"https://cdn.example/copy-{index}.jpg",
            analysis_status=AnalysisStatus.DONE,
            image_hash=f"{index:064x}",
            phash=f"{0xF0F0 ^ (1 << (index % 8)):016x}",
            dhash=f"{index:016x}",
        )
        for index in range(members)
    )
    first = media[0]
    cluster = ImageCluster.objects.create(
        land=land,
        key=first.pk,
        representative=first,
        size=members,
        distinct_domains=3,
        distinct_pages=len(pages),
        first_expression=first.expression,
        first_domain=first.expression.domain,
    )
    Media.objects.filter(pk__in=[item.pk for item in media]).update(cluster=cluster)
    return cluster


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("page", ["admin", "admin, last page of members", "API"])
def test_a_large_cluster_costs_the_queries_of_a_small_one(admin_client, page):
    small, large = _cluster(3), _cluster(2 * MEMBERS_SHOWN + 7)

    def url(cluster: ImageCluster, last: bool) -> str:
        if page == "API":
            return f"/api/clusters/{cluster.pk}/"
        address = reverse("medianalyse_clusters:cluster-detail", args=[cluster.pk])
        return f"{address}?page={-(-cluster.size // MEMBERS_SHOWN)}" if last else address

    last = page.endswith("last page of members")
    assert _queries(admin_client, url(large, last)) == _queries(admin_client, url(small, last))
    if page.startswith("admin"):
        shown = admin_client.get(url(large, last)).content.decode()
        # The members are paged: the last page shows the rest, not every member.
        assert shown.count("copy-") < 2 * MEMBERS_SHOWN
