"""The cluster pages: confirmation before a split or a merge, revert, redirects, member paging, drawn timeline."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from lands.models import Media
from media_analysis.clusters import compute, corrections
from media_analysis.models import ClusterCorrection, ClusterLink, ImageCluster
from tests.clusters.conftest import EDITS, build_photo_land, partition
from tests.factories import make_staff
from tests.support.big_cluster import build_big_cluster

pytestmark = pytest.mark.django_db


@pytest.fixture
def built(photos):
    built = build_photo_land(photos, range(3), list(EDITS))
    compute.recluster_land(built.land.pk)
    return built


@pytest.fixture
def staff_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def cluster_of(built, picture: int) -> ImageCluster:
    cluster = Media.objects.get(pk=built.media[(picture, "original")].pk).cluster
    assert cluster is not None
    return cluster


def page_of(cluster_id: int) -> str:
    return f"/admin/medianalyse/clusters/{cluster_id}/"


def test_a_split_is_confirmed_then_reverted_from_the_page(built, staff_client):
    cluster = cluster_of(built, 1)
    before = partition(built.land.pk)
    detached = [built.media[(1, "mirror")].pk, built.media[(1, "crop5")].pk]

    asked = staff_client.post(page_of(cluster.pk) + "split/", {"members": detached})

    assert asked.status_code == 200
    content = asked.content.decode()
    assert "Detach 2 images from cluster" in content
    assert content.count("<img ") == 2
    assert all(f'name="members" value="{pk}"' in content for pk in detached)
    assert 'name="confirmed" value="yes"' in content
    assert not ClusterLink.objects.exists()

    done = staff_client.post(page_of(cluster.pk) + "split/", {"members": detached, "confirmed": "yes"}, follow=True)

    after = partition(built.land.pk)
    assert frozenset(detached) in after
    new_cluster = Media.objects.get(pk=detached[0]).cluster_id
    page = done.content.decode()
    assert f'<a href="{page_of(new_cluster)}">cluster {new_cluster}</a>' in page
    correction = ClusterCorrection.objects.get()
    listed = page[page.index('id="mc-corrections"') :]
    assert f'data-correction="{correction.pk}"' in listed
    assert listed.count("<img ") == 2
    assert f'action="/admin/medianalyse/clusters/corrections/{correction.pk}/undo/"' in listed

    reverted = staff_client.post(f"/admin/medianalyse/clusters/corrections/{correction.pk}/undo/", follow=True)

    assert partition(built.land.pk) == before
    text = reverted.content.decode()
    assert f"Split {correction.pk} reverted" in text
    assert f"Reverted by correction {correction.pk + 1}." in text
    # The new cluster id is gone: it leads to where its images are now.
    gone = staff_client.get(page_of(new_cluster))
    assert gone.status_code == 302
    assert gone["Location"] == page_of(cluster.pk)


def test_a_merge_is_confirmed_and_the_merged_away_id_redirects(built, staff_client):
    a, b = cluster_of(built, 0), cluster_of(built, 2)
    land_page = f"/admin/medianalyse/clusters/lands/{built.land.pk}/"

    asked = staff_client.post(land_page + "merge/", {"clusters": [a.pk, b.pk]})

    assert asked.status_code == 200
    assert f"Merge clusters {a.pk} and {b.pk}?" in asked.content.decode()
    assert not ClusterLink.objects.exists()
    staff_client.post(land_page + "merge/", {"clusters": [a.pk, b.pk], "confirmed": "yes"})
    merged = Media.objects.get(pk=built.media[(0, "original")].pk).cluster_id
    gone = ({a.pk, b.pk} - {merged}).pop()

    followed = staff_client.get(page_of(gone), follow=True)

    assert followed.redirect_chain == [(page_of(merged), 302)]
    assert f"Cluster {gone} was merged or split: its images are now in cluster {merged}." in followed.content.decode()
    listed = staff_client.get(land_page).content.decode()
    assert listed[listed.index('id="mc-corrections"') :].count("<img ") == 2  # the two images the merge joined


def test_a_revert_refused_by_a_later_correction_says_why(built, staff_client):
    cluster = cluster_of(built, 0)
    first = corrections.split_cluster(cluster, [built.media[(0, "mirror")].pk])
    second = corrections.split_cluster(cluster.pk, [built.media[(0, "grey")].pk])
    state = partition(built.land.pk)

    refused = staff_client.post(f"/admin/medianalyse/clusters/corrections/{first.correction_id}/undo/", follow=True)

    assert partition(built.land.pk) == state
    assert (
        f"Not reverted: Correction {first.correction_id} cannot be undone: later corrections change the same images "
        f"(split {second.correction_id})" in refused.content.decode()
    )


def test_a_view_only_user_sees_corrections_but_cannot_revert(built):
    cluster = cluster_of(built, 0)
    split = corrections.split_cluster(cluster, [built.media[(0, "mirror")].pk])
    client = Client()
    client.force_login(make_staff("viewer", "lands.view_land"))

    page = client.get(page_of(cluster.pk)).content.decode()

    assert f'data-correction="{split.correction_id}"' in page
    assert "undo/" not in page
    assert client.post(f"/admin/medianalyse/clusters/corrections/{split.correction_id}/undo/").status_code == 403
    assert ClusterCorrection.objects.count() == 1


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_a_large_cluster_is_paged_with_a_fixed_number_of_queries(staff_client):
    _land, cluster = build_big_cluster(520)
    assert cluster.size == 520

    pages = [staff_client.get(page_of(cluster.pk) + f"?page={n}").content.decode() for n in (1, 2, 3)]

    shown = [re.findall(r'<li data-media="(\d+)"', page) for page in pages]
    assert [len(ids) for ids in shown] == [200, 200, 120]
    assert len({mid for ids in shown for mid in ids}) == 520
    assert "Members 1 to 200 of 520" in pages[0]
    assert "Members 401 to 520 of 520" in pages[2]
    assert 'rel="next"' in pages[0]
    assert 'rel="next"' not in pages[2]
    assert "Only part of the cluster:</strong> the 10 first members of 520" in pages[0]
    assert staff_client.get(page_of(cluster.pk) + "?page=9")["Location"] == page_of(cluster.pk) + "?page=3"
    assert staff_client.get(page_of(cluster.pk) + "?page=x").status_code == 200
    # Session, user, cluster, members of the page, every member's appearance, the page's member texts, the
    # cluster's captions, corrections: for any page.
    assert {n: _queries(staff_client, page_of(cluster.pk) + f"?page={n}") for n in (1, 3)} == {1: 8, 3: 8}


def test_the_timeline_draws_every_member_and_tells_publication_from_fetch(staff_client):
    _land, cluster = build_big_cluster(60, domains=4)

    content = staff_client.get(page_of(cluster.pk)).content.decode()

    chart = content[content.index('id="mc-timeline-chart"') : content.index("</figure>")]
    assert chart.count('class="mark published"') == 20
    assert chart.count('class="mark fetched"') == 40
    assert chart.count('text-anchor="end"') >= 4  # one label per domain
    assert "60 dated appearances on 4 domains" in chart
    assert "http" not in chart.split("</desc>", 1)[1].replace("http://www.w3.org/2000/svg", "")


def test_a_merge_from_the_cluster_page_is_confirmed_too(built, staff_client):
    a, b = cluster_of(built, 0), cluster_of(built, 1)

    asked = staff_client.post(page_of(a.pk) + "merge/", {"other": b.pk})

    content = asked.content.decode()
    assert asked.status_code == 200
    assert f"Merge clusters {a.pk} and {b.pk}?" in content
    assert f'action="/admin/medianalyse/clusters/lands/{built.land.pk}/merge/"' in content
    assert f'name="next" value="{page_of(a.pk)}"' in content
    assert not ClusterLink.objects.exists()
    done = staff_client.post(
        f"/admin/medianalyse/clusters/lands/{built.land.pk}/merge/",
        {"clusters": [a.pk, b.pk], "next": page_of(a.pk), "confirmed": "yes"},
    )
    assert done.status_code == 302
    assert frozenset(built.ids(0) | built.ids(1)) in partition(built.land.pk)
