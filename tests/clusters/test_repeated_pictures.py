"""A land where one picture repeats many times: one cluster, found without comparing every pair of copies."""

from __future__ import annotations

import pytest

from lands.models import Media
from media_analysis.clusters import compute, corrections
from media_analysis.engine.duplicates import clusterer
from tests.clusters.conftest import partition, synthetic
from tests.factories import make_expression, make_land

pytestmark = pytest.mark.django_db

LOGO_P, LOGO_D = 0x9DB8C2C7445DBB24, 0xBFBF3A383C3870E0


def _copies(land, count: int, first: int = 0, **fields) -> list[Media]:
    """``count`` copies of one logo under distinct bytes (a SHA-256 each), the same hashes."""
    return [synthetic(make_expression(land), LOGO_P, LOGO_D, sha=f"{first + i:064x}", **fields) for i in range(count)]


def test_a_picture_repeated_many_times_is_one_cluster_and_the_search_meets_it_once(monkeypatch):
    land = make_land()
    copies = _copies(land, 150)
    # One file under several URLs too.
    same_file = [synthetic(make_expression(land), LOGO_P, LOGO_D, sha="ab" * 32) for _ in range(5)]
    searched: list[int] = []
    add = clusterer.NearDuplicateClusterer.add

    def counting_add(self, items):
        searched.append(len(items))
        return add(self, items)

    monkeypatch.setattr(clusterer.NearDuplicateClusterer, "add", counting_add)
    compute.recluster_land(land.pk)

    assert partition(land.pk) == {frozenset(m.pk for m in copies + same_file)}
    # Each set of identical copies reaches the candidate search as one item.
    assert searched == [2]

    # More copies analysed later join it through the incremental path.
    later = _copies(land, 60, first=1000)
    compute.update_clusters_for_media(land.pk, [m.pk for m in later])
    assert partition(land.pk) == {frozenset(m.pk for m in copies + same_file + later)}
    assert searched[-1] == 2


def test_a_split_of_some_copies_survives_recomputation(admin_user):
    land = make_land()
    copies = _copies(land, 40)
    compute.recluster_land(land.pk)
    cluster = Media.objects.get(pk=copies[0].pk).cluster
    detached = {m.pk for m in copies[:3]}

    corrections.split_cluster(cluster, detached, user=admin_user)
    expected = {frozenset(detached), frozenset(m.pk for m in copies[3:])}
    assert partition(land.pk) == expected

    compute.recluster_land(land.pk)
    assert partition(land.pk) == expected
