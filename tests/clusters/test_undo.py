"""Undo of manual corrections: membership comes back exactly, an undo can be undone, dependants block."""

from __future__ import annotations

import pytest

from media_analysis.clusters import compute, corrections
from media_analysis.errors import InvalidParameters
from media_analysis.models import ClusterCorrection, ClusterLink, ImageCluster
from tests.clusters.conftest import EDITS, build_photo_land, partition

pytestmark = pytest.mark.django_db


def links(land_id: int) -> set[tuple[int, int, str]]:
    return set(ClusterLink.objects.filter(land_id=land_id).values_list("media_a_id", "media_b_id", "kind"))


def test_undoing_a_split_restores_membership_and_links_exactly(photos, admin_user):
    built = build_photo_land(photos, [2, 5], list(EDITS))
    compute.recluster_land(built.land.pk)
    before, links_before = partition(built.land.pk), links(built.land.pk)
    cluster = ImageCluster.objects.get(key=min(built.ids(2)))
    detached = {built.media[(2, "mirror")].pk, built.media[(2, "grey")].pk}

    split = corrections.split_cluster(cluster, detached, user=admin_user)
    after_split = partition(built.land.pk)
    assert after_split != before
    record = ClusterCorrection.objects.get(pk=split.correction_id)
    assert (record.kind, record.source_clusters, sorted(record.detached)) == ("split", [cluster.pk], sorted(detached))
    assert set(record.members) == built.ids(2)

    undo = corrections.undo_correction(split.correction_id, user=admin_user)

    assert partition(built.land.pk) == before
    assert links(built.land.pk) == links_before
    assert ClusterCorrection.objects.get(pk=undo.correction_id).undoes_id == split.correction_id
    assert cluster.pk in undo.cluster_ids

    # Undoing the undo makes the split again.
    redo = corrections.undo_correction(undo.correction_id, user=admin_user)
    assert partition(built.land.pk) == after_split
    assert ClusterCorrection.objects.get(pk=redo.correction_id).kind == "undo"
    # And undoing that gives the clusters as they were at first.
    corrections.undo_correction(redo.correction_id)
    assert partition(built.land.pk) == before


def test_undoing_a_merge_brings_back_the_split_it_withdrew(photos, admin_user):
    built = build_photo_land(photos, [3, 4], ["half", "caption"])
    compute.recluster_land(built.land.pk)
    three = ImageCluster.objects.get(key=min(built.ids(3)))
    corrections.split_cluster(three, [built.media[(3, "caption")].pk], user=admin_user)
    split_state, split_links = partition(built.land.pk), links(built.land.pk)
    three.refresh_from_db()
    four = ImageCluster.objects.get(key=min(built.ids(4)))

    merge = corrections.merge_clusters(three, four, user=admin_user)
    assert len(partition(built.land.pk)) == 1

    corrections.undo_correction(merge.correction_id, user=admin_user)

    assert partition(built.land.pk) == split_state
    assert links(built.land.pk) == split_links


def test_an_undo_is_refused_while_a_later_correction_depends_on_it(photos, admin_user):
    built = build_photo_land(photos, [0, 6], ["half", "grey", "mirror"])
    compute.recluster_land(built.land.pk)
    cluster = ImageCluster.objects.get(key=min(built.ids(0)))
    first = corrections.split_cluster(cluster, [built.media[(0, "mirror")].pk])
    cluster.refresh_from_db()
    second = corrections.split_cluster(cluster, [built.media[(0, "grey")].pk])
    state = partition(built.land.pk)

    with pytest.raises(
        InvalidParameters, match=rf"later corrections change the same images \(split {second.correction_id}\)"
    ):
        corrections.undo_correction(first.correction_id)
    assert partition(built.land.pk) == state

    # A correction elsewhere in the land does not block.
    other = ImageCluster.objects.get(key=min(built.ids(6)))
    corrections.split_cluster(other, [built.media[(6, "grey")].pk])
    corrections.undo_correction(second.correction_id)
    # Once the later one is undone, the first can be; twice is refused.
    corrections.undo_correction(first.correction_id)
    assert frozenset(built.ids(0)) in partition(built.land.pk)
    with pytest.raises(InvalidParameters, match="already undone"):
        corrections.undo_correction(first.correction_id)


def test_a_later_correction_put_back_by_undoing_its_undo_blocks_again(photos):
    built = build_photo_land(photos, [0], ["half", "grey", "mirror"])
    compute.recluster_land(built.land.pk)
    cluster = ImageCluster.objects.get(land=built.land)
    first = corrections.split_cluster(cluster, [built.media[(0, "mirror")].pk])
    cluster.refresh_from_db()
    second = corrections.split_cluster(cluster, [built.media[(0, "grey")].pk])
    undo = corrections.undo_correction(second.correction_id)
    corrections.undo_correction(undo.correction_id)

    with pytest.raises(InvalidParameters, match="later corrections"):
        corrections.undo_correction(first.correction_id)


def test_a_merged_away_cluster_id_leads_to_the_surviving_cluster(photos):
    built = build_photo_land(photos, [6, 7], ["half"])
    compute.recluster_land(built.land.pk)
    a, b = (ImageCluster.objects.get(key=min(built.ids(p))) for p in (6, 7))

    merged = corrections.merge_clusters(a.pk, b.pk).cluster_ids[0]

    gone = ({a.pk, b.pk} - {merged}).pop()
    assert not ImageCluster.objects.filter(pk=gone).exists()
    assert corrections.surviving_cluster(gone) == merged
    assert corrections.surviving_cluster(10**9) is None
