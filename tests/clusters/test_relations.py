"""Framed and cropped copies in a land: clustered, described against the representative, corrected for good."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client
from PIL import Image
from sklearn.datasets import load_sample_image

from lands.models import Media
from media_analysis.clusters import compute, corrections, exports, queries
from media_analysis.engine.image import ImageAnalysis, analyse_image
from media_analysis.models import ImageCluster
from tests.clusters.conftest import analysed_media, encode_jpeg, mark_analysed, partition
from tests.clusters.test_pages import page_of
from tests.factories import make_domain, make_expression, make_land
from tests.support.photo_edits import centre_square, cut_each_border, framed

pytestmark = pytest.mark.django_db

REPOST_EDITS = {
    "framed": lambda im: framed(im, (255, 255, 255)),
    "cut": cut_each_border,
    "square": centre_square,
}


@pytest.fixture(scope="module")
def reposts() -> dict[tuple[int, str], ImageAnalysis]:
    """Two photos, each original (shrunk: a framed copy must not be the largest) and its reposted copies."""
    analyses = {}
    for picture, name in enumerate(("china.jpg", "flower.jpg")):
        photo = Image.fromarray(load_sample_image(name))
        analyses[(picture, "original")] = analyse_image(encode_jpeg(photo))
        for edit, apply in REPOST_EDITS.items():
            analyses[(picture, edit)] = analyse_image(encode_jpeg(apply(photo)))
    return analyses


@dataclass
class Built:
    land_id: int
    media: dict[tuple[int, str], Media]


def _build(reposts, edits=tuple(REPOST_EDITS)) -> Built:
    land = make_land()
    domain = make_domain()
    media = {}
    for picture in (0, 1):
        for edit in ("original", *edits):
            page = make_expression(land, domain)
            media[(picture, edit)] = analysed_media(page, reposts[(picture, edit)], url=f"https://x.example/{edit}")
    return Built(land.pk, media)


def _cluster_of(media: Media) -> ImageCluster:
    cluster_id = Media.objects.get(pk=media.pk).cluster_id
    assert cluster_id is not None
    return ImageCluster.objects.get(pk=cluster_id)


def _truth(built: Built) -> set[frozenset[int]]:
    return {frozenset(m.pk for (p, _), m in built.media.items() if p == picture) for picture in (0, 1)}


def test_framed_and_cropped_copies_are_clustered_with_their_original(reposts):
    built = _build(reposts)
    compute.recluster_land(built.land_id)
    assert partition(built.land_id) == _truth(built)


def test_the_cluster_page_data_say_how_each_member_relates_to_the_representative(reposts):
    built = _build(reposts)
    compute.recluster_land(built.land_id)
    cluster = _cluster_of(built.media[(0, "original")])
    details = queries.cluster_details(cluster.pk)

    relations = {m.pk: details.relations[m.pk] for m in details.members}
    by_edit = {edit: relations[built.media[(0, edit)].pk] for edit in ("original", *REPOST_EDITS)}
    # The framed copy is the largest in pixels, hence the representative.
    assert cluster.representative_id == built.media[(0, "framed")].pk
    assert by_edit["framed"] == "representative"
    assert by_edit["original"] == "frame removed"
    assert by_edit["cut"].startswith("frame removed, cropped")
    assert by_edit["square"] == "frame removed, square crop"


def test_clustercsv_has_a_relation_per_member(reposts):
    built = _build(reposts)
    compute.recluster_land(built.land_id)
    rows = list(exports.iter_cluster_rows(built.land_id))

    assert "relation" in exports.CLUSTER_CSV_COLUMNS
    for row in rows:
        assert len(row["relation"]) == len(row["media_ids"])
        relation_of = dict(zip(row["media_ids"], row["relation"], strict=True))
        assert relation_of[row["representative_id"]] == "representative"
        assert all(relation for relation in row["relation"])


def test_a_new_framed_copy_joins_incrementally_as_a_full_run_would(reposts):
    built = _build(reposts, edits=("cut",))
    compute.recluster_land(built.land_id)
    page = make_expression(built.media[(0, "original")].expression.land)
    late = analysed_media(page, None, type="img")
    mark_analysed(late, reposts[(0, "framed")])

    report = compute.update_clusters_for_media(built.land_id, [late.pk])

    assert report.mode == "incremental"
    incremental = partition(built.land_id)
    assert any(late.pk in group and built.media[(0, "original")].pk in group for group in incremental)
    compute.recluster_land(built.land_id)
    assert partition(built.land_id) == incremental


def test_a_split_of_a_framed_copy_survives_recomputation_and_its_undo_brings_it_back(reposts, admin_user):
    built = _build(reposts)
    compute.recluster_land(built.land_id)
    framed_copy = built.media[(0, "framed")].pk
    cluster = _cluster_of(built.media[(0, "original")])

    split = corrections.split_cluster(cluster, [framed_copy], user=admin_user)
    compute.recluster_land(built.land_id)
    assert Media.objects.get(pk=framed_copy).cluster_id is None
    assert partition(built.land_id) == {
        group - {framed_copy} if framed_copy in group else group for group in _truth(built)
    }

    corrections.undo_correction(split.correction_id, user=admin_user)
    compute.recluster_land(built.land_id)
    assert partition(built.land_id) == _truth(built)


def test_a_merge_of_two_pictures_survives_recomputation(reposts, admin_user):
    built = _build(reposts)
    compute.recluster_land(built.land_id)
    a = _cluster_of(built.media[(0, "original")])
    b = _cluster_of(built.media[(1, "original")])

    corrections.merge_clusters(a, b, user=admin_user)
    compute.recluster_land(built.land_id)

    everything = frozenset(m.pk for m in built.media.values())
    assert partition(built.land_id) == {everything}
    merged = _cluster_of(built.media[(0, "original")])
    relations = queries.cluster_details(merged.pk).relations
    # Members of the other picture are joined by hand: the hashes cannot say how they relate.
    other = built.media[(1, "original")].pk
    assert merged.representative_id == other or relations[other] == "indirect"


def test_the_cluster_page_shows_each_members_relation(reposts, admin_user):
    built = _build(reposts)
    compute.recluster_land(built.land_id)
    client = Client()
    client.force_login(admin_user)
    cluster = _cluster_of(built.media[(0, "original")])

    content = client.get(page_of(cluster.pk)).content.decode()

    assert content.count('class="mc-relation"') == 3
    assert "frame removed, square crop" in content
