"""The cluster pages of the admin: they render, act through POST forms, and cost a fixed number of queries."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from lands.models import Media
from media_analysis.clusters import compute, corrections
from media_analysis.models import ClusterLink, ImageCluster
from media_analysis.web.admin import clusters as cluster_admin
from tests.clusters.conftest import EDITS, analysed_media, build_photo_land, partition
from tests.factories import make_domain, make_expression, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def built(photos):
    built = build_photo_land(photos, range(3), list(EDITS))
    # Picture 3 on two pages of one domain only: the least spread cluster.
    domain = make_domain()
    for edit in ("original", "half"):
        media = analysed_media(make_expression(built.land, domain), photos.analysis(3, edit))
        built.media[(3, edit)] = media
        built.truth[media.pk] = 3
    compute.recluster_land(built.land.pk)
    return built


@pytest.fixture
def staff_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def land_url(built) -> str:
    return f"/admin/medianalyse/clusters/lands/{built.land.pk}/"


def cluster_of(built, picture: int) -> ImageCluster:
    cluster = Media.objects.get(pk=built.media[(picture, "original")].pk).cluster
    assert cluster is not None, f"picture {picture} is in no cluster"
    return cluster


def test_land_page_lists_clusters_by_spread_with_lazy_thumbnails(built, staff_client):
    response = staff_client.get(land_url(built))

    assert response.status_code == 200
    content = response.content.decode()
    shown = [int(pk) for pk in re.findall(r'<li class="mc-cluster" data-cluster="(\d+)"', content)]
    assert shown[-1] == cluster_of(built, 3).pk
    assert set(shown) == {cluster_of(built, p).pk for p in range(4)}
    thumbnails = re.findall(r"<img [^>]*>", content)
    assert len(thumbnails) == 3 * 7 + 2
    assert all('loading="lazy"' in tag and 'referrerpolicy="no-referrer"' in tag for tag in thumbnails)
    assert all('src="/admin/medianalyse/stored/thumbnails/' in tag for tag in thumbnails)
    assert f"Cluster {shown[0]}" in content
    assert 'name="csrfmiddlewaretoken"' in content
    assert f'href="/admin/medianalyse/clusters/{shown[0]}/"' in content


def test_land_page_is_paginated_and_sortable(built, staff_client, monkeypatch):
    monkeypatch.setattr(cluster_admin, "CLUSTERS_PER_PAGE", 3)

    first = staff_client.get(land_url(built) + "?ordering=size").content.decode()
    second = staff_client.get(land_url(built) + "?ordering=size&page=2").content.decode()
    odd = staff_client.get(land_url(built) + "?ordering=nonsense&page=zzz")

    assert first.count('class="mc-cluster"') == 3
    assert second.count('class="mc-cluster"') == 1
    assert f'data-cluster="{cluster_of(built, 3).pk}"' in second
    assert 'id="mc-next"' in first
    assert odd.status_code == 200
    assert "Unknown ordering" in odd.content.decode()


def test_cluster_page_shows_members_distances_domains_and_timeline(built, staff_client):
    cluster = cluster_of(built, 0)

    response = staff_client.get(f"/admin/medianalyse/clusters/{cluster.pk}/")

    assert response.status_code == 200
    content = response.content.decode()
    assert content.count('name="members"') == 7
    assert content.count("<img ") == 7
    table = content[content.index('id="mc-distances"') : content.index('id="mc-domains"')]
    assert table.count("<tr>") == 1 + 7
    assert re.search(r'title="pHash \d+ bits \(mirror image\), dHash \d+ bits">\d+m<', table)
    timeline = content[content.index('id="mc-timeline"') :]
    assert timeline.count("<tr>") == 1 + 7
    assert "published" in timeline
    assert built.domains[0].name in content


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_page_query_counts_are_pinned_and_do_not_grow(built, photos, staff_client):
    cluster = cluster_of(built, 0)
    pages = {
        land_url(built): 8,  # session, user, land, state, count, page, thumbnails, corrections
        f"/admin/medianalyse/clusters/{cluster.pk}/": 8,  # ... appearances, member texts, captions, corrections
        "/admin/media_analysis/imagecluster/": 5,  # session, user, land filter, count, page
    }
    assert {url: _queries(staff_client, url) for url in pages} == pages

    for picture in range(4, 8):
        for edit in ("original", "half", "grey"):
            analysed_media(make_expression(built.land, make_domain()), photos.analysis(picture, edit))
    analysed_media(make_expression(built.land, make_domain()), photos.analysis(0, "half"))
    compute.recluster_land(built.land.pk)
    assert ImageCluster.objects.count() == 8
    assert {url: _queries(staff_client, url) for url in pages} == pages


def test_split_from_the_page_detaches_members_for_good(built, staff_client):
    cluster = cluster_of(built, 1)
    detached = [built.media[(1, "mirror")].pk, built.media[(1, "crop5")].pk]

    response = staff_client.post(
        f"/admin/medianalyse/clusters/{cluster.pk}/split/", {"members": detached, "confirmed": "yes"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/admin/medianalyse/clusters/{cluster.pk}/"
    assert frozenset(detached) in partition(built.land.pk)
    staff_client.post(land_url(built) + "recompute/")
    assert frozenset(detached) in partition(built.land.pk)
    assert frozenset(built.ids(1) - set(detached)) in partition(built.land.pk)


def test_a_bad_split_is_a_message_not_an_error(built, staff_client):
    cluster = cluster_of(built, 1)

    response = staff_client.post(
        f"/admin/medianalyse/clusters/{cluster.pk}/split/", {"members": [], "confirmed": "yes"}, follow=True
    )

    assert response.status_code == 200
    assert "Not split: Choose the members to detach" in response.content.decode()
    assert not ClusterLink.objects.exists()


def test_merge_two_selected_clusters_from_the_land_page(built, staff_client):
    a, b = cluster_of(built, 2), cluster_of(built, 3)

    response = staff_client.post(land_url(built) + "merge/", {"clusters": [a.pk, b.pk], "confirmed": "yes"})

    assert response.status_code == 302
    merged = Media.objects.get(pk=built.media[(2, "original")].pk).cluster_id
    assert response["Location"] == f"/admin/medianalyse/clusters/{merged}/"
    assert frozenset(built.ids(2) | built.ids(3)) in partition(built.land.pk)

    one = staff_client.post(land_url(built) + "merge/", {"clusters": [merged], "confirmed": "yes"}, follow=True)
    assert "Select exactly two clusters to merge." in one.content.decode()
    away = staff_client.post(
        land_url(built) + "merge/", {"clusters": [merged], "next": "https://elsewhere.example/", "confirmed": "yes"}
    )
    assert away["Location"] == land_url(built)
    back = staff_client.post(
        land_url(built) + "merge/", {"clusters": [merged], "next": land_url(built) + "?page=2", "confirmed": "yes"}
    )
    assert back["Location"] == land_url(built) + "?page=2"


def test_merge_accepts_a_repeated_cluster_id(built, staff_client):
    a, b = cluster_of(built, 2), cluster_of(built, 3)

    response = staff_client.post(land_url(built) + "merge/", {"clusters": [a.pk, b.pk, b.pk], "confirmed": "yes"})

    assert response.status_code == 302
    assert frozenset(built.ids(2) | built.ids(3)) in partition(built.land.pk)
    same = cluster_of(built, 2)
    refused = staff_client.post(
        land_url(built) + "merge/", {"clusters": [same.pk, same.pk], "confirmed": "yes"}, follow=True
    )
    assert "Select exactly two clusters to merge." in refused.content.decode()


def test_merge_with_a_cluster_id_from_the_cluster_page(built, staff_client, photos):
    a, b = cluster_of(built, 0), cluster_of(built, 1)
    elsewhere = build_photo_land(photos, [5], ["half"])
    compute.recluster_land(elsewhere.land.pk)
    foreign = ImageCluster.objects.get(land=elsewhere.land)

    refused = staff_client.post(
        f"/admin/medianalyse/clusters/{a.pk}/merge/", {"other": foreign.pk, "confirmed": "yes"}, follow=True
    )
    assert "Not merged: Both clusters must belong to this land" in refused.content.decode()
    garbage = staff_client.post(
        f"/admin/medianalyse/clusters/{a.pk}/merge/", {"other": "x", "confirmed": "yes"}, follow=True
    )
    assert "Cluster ids are numbers." in garbage.content.decode()
    for huge in ("9" * 25, str(2**63), "-1", "0"):
        overflow = staff_client.post(
            f"/admin/medianalyse/clusters/{a.pk}/merge/", {"other": huge, "confirmed": "yes"}, follow=True
        )
        assert overflow.status_code == 200
        assert "Cluster ids are numbers." in overflow.content.decode()

    staff_client.post(f"/admin/medianalyse/clusters/{a.pk}/merge/", {"other": b.pk, "confirmed": "yes"})
    assert frozenset(built.ids(0) | built.ids(1)) in partition(built.land.pk)


def test_forms_need_csrf_tokens(built, admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    cluster = cluster_of(built, 0)

    response = client.post(
        f"/admin/medianalyse/clusters/{cluster.pk}/split/", {"members": [cluster.key], "confirmed": "yes"}
    )

    assert response.status_code == 403
    assert not ClusterLink.objects.exists()


def test_acting_needs_the_change_permission_on_clusters(built, django_user_model):
    cluster = cluster_of(built, 0)
    split_url = f"/admin/medianalyse/clusters/{cluster.pk}/split/"
    client = Client()
    outsider = django_user_model.objects.create_user("outsider", password="x")
    outsider.user_permissions.add(Permission.objects.get(codename="change_imagecluster"))
    client.force_login(outsider)
    # Not staff: the admin sends it to its login page, permission or not.
    assert client.get(land_url(built))["Location"].startswith("/admin/login/")
    assert client.post(split_url, {"members": [cluster.key], "confirmed": "yes"})["Location"].startswith(
        "/admin/login/"
    )

    # Reading the land is not correcting it, and neither is running analyses.
    for username, permissions in (
        ("viewer", ["lands.view_land"]),
        ("runner", ["lands.view_land", "media_analysis.run_analysis"]),
    ):
        client.force_login(make_staff(username, *permissions))
        page = client.get(f"/admin/medianalyse/clusters/{cluster.pk}/").content.decode()
        assert 'name="members"' not in page
        assert 'id="mc-merge-form"' not in page
        assert 'id="mc-recompute"' not in client.get(land_url(built)).content.decode()
        assert client.post(split_url, {"members": [cluster.key], "confirmed": "yes"}).status_code == 403
        assert client.post(land_url(built) + "recompute/").status_code == 403
        assert client.post(land_url(built) + "merge/", {"clusters": ["1", "2"], "confirmed": "yes"}).status_code == 403
        assert (
            client.post(
                f"/admin/medianalyse/clusters/{cluster.pk}/merge/", {"other": "1", "confirmed": "yes"}
            ).status_code
            == 403
        )
        assert not ClusterLink.objects.exists()

    corrector = make_staff("corrector", "lands.view_land", "media_analysis.change_imagecluster")
    client.force_login(corrector)
    assert 'name="members"' in client.get(f"/admin/medianalyse/clusters/{cluster.pk}/").content.decode()
    assert client.post(split_url, {"members": [cluster.key], "confirmed": "yes"}).status_code == 302
    assert ClusterLink.objects.filter(created_by=corrector).exists()


def test_reading_is_get_only_and_acting_is_post_only(built, staff_client):
    cluster = cluster_of(built, 0)
    assert staff_client.post(land_url(built)).status_code == 405
    assert staff_client.get(f"/admin/medianalyse/clusters/{cluster.pk}/split/").status_code == 405
    gone = staff_client.get("/admin/medianalyse/clusters/999999/", follow=True)
    assert "no longer exists" in gone.content.decode()


def test_deleting_a_link_in_the_admin_withdraws_the_correction(built, staff_client):
    cluster = cluster_of(built, 2)
    corrections.split_cluster(cluster, [built.media[(2, "grey")].pk])
    links = list(ClusterLink.objects.values_list("pk", flat=True))
    assert Media.objects.get(pk=built.media[(2, "grey")].pk).cluster_id is None

    response = staff_client.post(
        "/admin/media_analysis/clusterlink/",
        {"action": "delete_selected", "_selected_action": links, "post": "yes"},
    )

    assert response.status_code == 302
    assert not ClusterLink.objects.exists()
    assert frozenset(built.ids(2)) in partition(built.land.pk)


def test_cluster_changelist_links_to_the_pages(built, staff_client):
    cluster = cluster_of(built, 0)
    content = staff_client.get("/admin/media_analysis/imagecluster/").content.decode()
    assert f'href="{land_url(built)}"' in content
    assert f'href="/admin/medianalyse/clusters/{cluster.pk}/"' in content
    assert '<img src="/admin/medianalyse/stored/thumbnails/' in content
    # A media's change page links to its cluster's page; the cluster's admin row is read-only.
    media_page = staff_client.get(f"/admin/lands/media/{built.media[(0, 'half')].pk}/change/").content.decode()
    assert f'<a href="/admin/medianalyse/clusters/{cluster.pk}/">Cluster {cluster.pk}</a>' in media_page
    view = staff_client.get(f"/admin/media_analysis/imagecluster/{cluster.pk}/change/")
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()


def test_the_cluster_list_links_to_the_pages_only_for_those_who_may_open_them(built):
    cluster = cluster_of(built, 0)
    client = Client()
    client.force_login(make_staff("lister", "media_analysis.view_imagecluster"))
    response = client.get("/admin/media_analysis/imagecluster/")
    assert response.status_code == 200
    content = response.content.decode()
    assert f"Cluster {cluster.pk}" in content
    assert "/admin/medianalyse/clusters/" not in content
    # The pages themselves answer as the list implied.
    assert client.get(f"/admin/medianalyse/clusters/{cluster.pk}/").status_code == 403
    assert client.get(land_url(built)).status_code == 403


def test_withdrawing_a_correction_needs_the_change_permission_on_clusters(built):
    cluster = cluster_of(built, 2)
    corrections.split_cluster(cluster, [built.media[(2, "grey")].pk])
    links = list(ClusterLink.objects.values_list("pk", flat=True))
    form = {"action": "delete_selected", "_selected_action": links, "post": "yes"}
    client = Client()

    client.force_login(make_staff("deleter", "media_analysis.view_clusterlink", "media_analysis.delete_clusterlink"))
    client.post("/admin/media_analysis/clusterlink/", form)
    assert ClusterLink.objects.count() == len(links)

    client.force_login(
        make_staff(
            "corrector",
            "media_analysis.view_clusterlink",
            "media_analysis.delete_clusterlink",
            "media_analysis.change_imagecluster",
        )
    )
    assert client.post("/admin/media_analysis/clusterlink/", form).status_code == 302
    assert not ClusterLink.objects.exists()
