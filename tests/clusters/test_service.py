"""Clusters in the database: full and incremental runs, stable ids, figures, corrections."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from lands.models import AnalysisStatus, Land, Media
from media_analysis.clusters import compute, corrections, queries
from media_analysis.engine.duplicates.hashes import HashedImage
from media_analysis.engine.image import analyse_image
from media_analysis.engine.image.regions import HEX_LENGTH
from media_analysis.errors import InvalidParameters
from media_analysis.models import ClusterLink, ImageCluster, LandClustering
from tests.clusters.conftest import (
    EDITS,
    analysed_media,
    build_photo_land,
    encode_jpeg,
    mark_analysed,
    partition,
    synthetic,
)
from tests.factories import make_domain, make_expression, make_land, make_media
from tests.support.photo_edits import asymmetric_crop, framed

ALL_EDITS = list(EDITS)

pytestmark = pytest.mark.django_db


# --- From scratch ---------------------------------------------------------------------


def test_edited_copies_of_real_photos_cluster_with_their_original_through_the_database(photos):
    built = build_photo_land(photos, range(8), ALL_EDITS)

    report = compute.recluster_land(built.land.pk)

    assert partition(built.land.pk) == {frozenset(built.ids(p)) for p in range(8)}
    assert (report.mode, report.images, report.clusters, report.clustered_images) == ("full", 56, 8, 56)
    assert (report.created, report.updated, report.deleted, report.media_changed) == (8, 0, 0, 56)
    state = LandClustering.objects.get(land=built.land)
    assert state.started_at is not None
    assert state.params["phash_threshold"] == 10
    assert (state.images, state.clusters, state.mode) == (56, 8, "full")


def test_cluster_figures_spread_first_appearance_and_representative(photos):
    built = build_photo_land(photos, [0], ALL_EDITS)

    compute.recluster_land(built.land.pk)

    cluster = ImageCluster.objects.get(land=built.land)
    original = built.media[(0, "original")]
    assert cluster.size == 7
    assert cluster.distinct_pages == 7
    assert cluster.distinct_domains == 4
    assert cluster.key == min(built.ids(0))
    # The original's page has a publication date (2020); the copies only fetch dates (2024).
    assert cluster.first_seen_at == datetime(2020, 1, 1, tzinfo=UTC)
    assert cluster.first_expression_id == original.expression_id
    assert cluster.first_domain_id == built.domains[0].pk
    # Largest in pixels, then in bytes: several copies keep the original's 320 x 213.
    largest = max(built.media.values(), key=lambda m: (m.width * m.height, m.file_size, -m.pk))
    assert largest.width * largest.height == original.width * original.height
    assert cluster.representative_id == largest.pk


def test_lone_images_get_no_cluster_and_unanalysed_media_are_left_out(photos):
    land = make_land()
    page = make_expression(land)
    lone = analysed_media(page, photos.analysis(0))
    other = analysed_media(page, photos.analysis(5))
    pending = make_media(page, url="https://cdn.example/pending.jpg")
    failed = make_media(page, analysis_status=AnalysisStatus.FAILED, error_class="timeout")
    video = make_media(page, type="video", analysis_status=AnalysisStatus.DONE, image_hash="ab" * 32)

    report = compute.recluster_land(land.pk)

    assert report.images == 2
    assert ImageCluster.objects.filter(land=land).count() == 0
    assert not Media.objects.filter(pk__in=[lone.pk, other.pk, pending.pk, failed.pk, video.pk], cluster__isnull=False)


def test_identical_files_are_always_together_even_without_perceptual_hashes():
    land = make_land()
    sha = "c0ffee" * 10 + "abcd"
    first = analysed_media(make_expression(land), image_hash=sha)
    second = analysed_media(make_expression(land), image_hash=sha.upper())
    stranger = analysed_media(make_expression(land), image_hash="1" * 64)

    compute.recluster_land(land.pk)

    assert partition(land.pk) == {frozenset({first.pk, second.pk})}
    assert Media.objects.get(pk=stranger.pk).cluster_id is None


def test_unreadable_stored_hashes_are_ignored_not_fatal():
    land = make_land()
    a = synthetic(make_expression(land), 0x0F0F_0F0F_0F0F_0F0F, 0x1234)
    b = synthetic(make_expression(land), 0x0F0F_0F0F_0F0F_0F0E, 0x1234)
    broken = analysed_media(make_expression(land), phash="not hex", dhash="0x12", image_hash="e" * 64)

    report = compute.recluster_land(land.pk)

    assert report.images == 3  # the damaged row still counts by its SHA-256
    assert partition(land.pk) == {frozenset({a.pk, b.pk})}
    assert Media.objects.get(pk=broken.pk).cluster_id is None


def test_framed_and_cropped_copies_cluster_through_the_database(photos):
    # Region hashes are longer than a short text column: they must be stored whole on every database.
    land = make_land()
    original = Image.open(io.BytesIO(photos.files[(1, "original")]))
    copies = [framed(original, (255, 255, 255)), asymmetric_crop(original, 6), asymmetric_crop(original, 9)]
    media = [analysed_media(make_expression(land), photos.analysis(1))]
    media += [analysed_media(make_expression(land), analyse_image(encode_jpeg(copy))) for copy in copies]
    media.append(analysed_media(make_expression(land), photos.analysis(5)))

    compute.recluster_land(land.pk)

    stored = Media.objects.get(pk=media[1].pk).region_hashes
    assert stored is not None
    assert len(stored) == HEX_LENGTH
    assert partition(land.pk) == {frozenset(m.pk for m in media[:4])}


def test_region_hashes_of_an_older_layout_are_left_out_and_the_whole_image_hashes_still_count(photos):
    land = make_land()
    original = analysed_media(make_expression(land), photos.analysis(2))
    half = analysed_media(make_expression(land), photos.analysis(2, "half"), region_hashes="0" * 364)
    framed_copy = analysed_media(
        make_expression(land),
        analyse_image(encode_jpeg(framed(Image.open(io.BytesIO(photos.files[(2, "original")])), (0, 0, 0)))),
    )
    framed_copy.region_hashes = framed_copy.region_hashes[: 12 + 32 * 11]  # the eleven regions of version 3
    framed_copy.save()

    compute.recluster_land(land.pk)

    # The half-size copy still joins by its whole-image hashes; the framed one needed its regions.
    assert partition(land.pk) == {frozenset({original.pk, half.pk})}


def test_the_duplicate_threshold_setting_is_the_phash_threshold(settings):
    land = make_land()
    base = 0x00FF_00FF_00FF_00FF
    a = synthetic(make_expression(land), base, 0x77)
    b = synthetic(make_expression(land), base ^ 0b111111, 0x77)  # 6 pHash bits apart

    settings.MEDIA_ANALYSIS_DUPLICATE_THRESHOLD = 5
    compute.recluster_land(land.pk)
    assert partition(land.pk) == set()

    settings.MEDIA_ANALYSIS_DUPLICATE_THRESHOLD = 6
    report = compute.update_clusters_for_new_media(land.pk)
    assert (report.mode, report.reason) == ("full", "thresholds changed")
    assert partition(land.pk) == {frozenset({a.pk, b.pk})}


# --- Stable ids -------------------------------------------------------------------------


def test_recomputing_an_unchanged_land_writes_nothing_and_keeps_ids(photos):
    built = build_photo_land(photos, range(4), ALL_EDITS)
    compute.recluster_land(built.land.pk)
    before = dict(Media.objects.filter(cluster__isnull=False).values_list("id", "cluster_id"))

    report = compute.recluster_land(built.land.pk)

    assert (report.created, report.updated, report.deleted, report.media_changed) == (0, 0, 0, 0)
    assert dict(Media.objects.filter(cluster__isnull=False).values_list("id", "cluster_id")) == before


def test_a_cluster_keeps_its_id_when_members_come_and_go(photos):
    built = build_photo_land(photos, [0, 1], ["half", "grey", "caption"])
    compute.recluster_land(built.land.pk)
    first_id = Media.objects.get(pk=built.media[(0, "original")].pk).cluster_id
    # The original leaves (its page now shows something unrelated): the cluster row stays.
    original = built.media[(0, "original")]
    original.image_hash, original.phash, original.dhash, original.colorhash = "9" * 64, "0" * 16, "f" * 16, None
    original.region_hashes = None
    original.save()
    page = make_expression(built.land)
    newcomer = analysed_media(page, photos.analysis(0, "jpeg50"))

    compute.recluster_land(built.land.pk)

    kept = ImageCluster.objects.get(pk=first_id)
    assert set(kept.members.values_list("id", flat=True)) == {
        built.media[(0, e)].pk for e in ("half", "grey", "caption")
    } | {newcomer.pk}
    assert kept.size == 4
    assert Media.objects.get(pk=original.pk).cluster_id is None


def test_match_clusters_gives_each_old_row_to_the_group_sharing_most_members():
    previous = {1: 10, 2: 10, 3: 10, 4: 20, 5: None, 6: 20}
    # Group (1, 2) keeps 10; (3, 4, 6) shares two with 20 and one with 10: 20; (5, 7) is new.
    assert compute.match_clusters([[1, 2], [3, 4, 6], [5, 7]], previous) == [10, 20, None]
    # Ties go to the smaller old id, and an old id is taken once.
    assert compute.match_clusters([[1, 4], [2, 6]], previous) == [10, 20]
    assert compute.match_clusters([[1], [2]], {1: 10, 2: 10}) == [10, None]


# --- Incremental ---------------------------------------------------------------------------


def assert_full_recompute_changes_nothing(land_id: int) -> None:
    before = partition(land_id)
    report = compute.recluster_land(land_id)
    assert partition(land_id) == before
    assert (report.created, report.updated, report.deleted, report.media_changed) == (0, 0, 0, 0), report


def test_incremental_update_of_real_photos_equals_a_full_recompute(photos):
    built = build_photo_land(photos, range(6), ALL_EDITS)
    late = [m for (p, edit), m in built.media.items() if edit in ("mirror", "crop5") or p == 5]
    Media.objects.filter(pk__in=[m.pk for m in late]).update(analysis_status=AnalysisStatus.PENDING)
    compute.recluster_land(built.land.pk)
    assert len(partition(built.land.pk)) == 5

    Media.objects.filter(pk__in=[m.pk for m in late]).update(analysis_status=AnalysisStatus.DONE)
    report = compute.update_clusters_for_media(built.land.pk, [m.pk for m in late])

    assert report.mode == "incremental"
    assert report.new_media == len(late)
    assert report.created == 1  # picture 5
    assert partition(built.land.pk) == {frozenset(built.ids(p)) for p in range(6)}
    assert_full_recompute_changes_nothing(built.land.pk)


def test_a_new_image_bridging_two_clusters_merges_them_and_one_row_survives():
    land = make_land()
    left = [synthetic(make_expression(land), 0x0, 0x0), synthetic(make_expression(land), 0x1, 0x0)]
    right = [
        synthetic(make_expression(land), 0xFFF << 8, 0x0),
        synthetic(make_expression(land), (0xFFF << 8) | 0x1, 0x0),
    ]
    compute.recluster_land(land.pk)
    ids_before = set(ImageCluster.objects.filter(land=land).values_list("id", flat=True))
    assert len(ids_before) == 2
    # 6 bits from the left pair, 6 from the right pair (threshold 10); 12 apart from each other.
    bridge = synthetic(make_expression(land), 0x3F << 8, 0x0)

    report = compute.update_clusters_for_media(land.pk, [bridge.pk])

    assert partition(land.pk) == {frozenset({*(m.pk for m in left + right), bridge.pk})}
    assert (report.created, report.updated, report.deleted) == (0, 1, 1)
    assert set(ImageCluster.objects.filter(land=land).values_list("id", flat=True)) < ids_before
    assert_full_recompute_changes_nothing(land.pk)


def test_a_reanalysed_image_whose_hashes_changed_leaves_its_cluster():
    land = make_land()
    a = synthetic(make_expression(land), 0xAAAA, 0x1)
    b = synthetic(make_expression(land), 0xAAAB, 0x1)
    c = synthetic(make_expression(land), 0xAAA8, 0x1)
    compute.recluster_land(land.pk)
    assert partition(land.pk) == {frozenset({a.pk, b.pk, c.pk})}

    Media.objects.filter(pk=b.pk).update(phash=f"{0xFFFF_0000_FFFF_0000:016x}", image_hash="b" * 64)
    Media.objects.filter(pk=c.pk).update(analysis_status=AnalysisStatus.PENDING)  # no longer clusterable
    report = compute.update_clusters_for_media(land.pk, [b.pk, c.pk])

    assert partition(land.pk) == set()
    assert (report.deleted, report.media_changed) == (1, 3)
    assert_full_recompute_changes_nothing(land.pk)


def test_random_batches_of_new_media_always_match_a_full_recompute():
    rng = random.Random(7)
    land = make_land()
    pages = [make_expression(land, make_domain()) for _ in range(6)]
    media = []
    for group in range(40):
        base = rng.getrandbits(64)
        dbase = rng.getrandbits(64)
        for _ in range(rng.randint(1, 5)):
            phash = base ^ sum(1 << bit for bit in rng.sample(range(64), rng.randint(0, 6)))
            dhash = dbase ^ sum(1 << bit for bit in rng.sample(range(64), rng.randint(0, 6)))
            sha = f"{group:064x}" if rng.random() < 0.2 else None
            media.append(synthetic(rng.choice(pages), phash, dhash, sha=sha))
    rng.shuffle(media)
    batches = [media[i::4] for i in range(4)]
    Media.objects.filter(pk__in=[m.pk for m in media]).update(analysis_status=AnalysisStatus.PENDING)
    compute.recluster_land(land.pk)

    for batch in batches:
        Media.objects.filter(pk__in=[m.pk for m in batch]).update(analysis_status=AnalysisStatus.DONE)
        report = compute.update_clusters_for_media(land.pk, [m.pk for m in batch])
        assert report.mode == "incremental"
        assert_full_recompute_changes_nothing(land.pk)
    assert len(partition(land.pk)) > 10


def test_new_media_since_the_last_run_are_found_by_their_analysis_date(photos):
    built = build_photo_land(photos, [0, 1], ["half", "grey"])
    first = compute.update_clusters_for_new_media(built.land.pk)
    assert (first.mode, first.reason) == ("full", "first run")
    watermark = LandClustering.objects.get(land=built.land).started_at

    page = make_expression(built.land)
    fresh = make_media(page, url="https://new.example/copy.jpg")
    mark_analysed(fresh, photos.analysis(1, "caption"), when=watermark + timedelta(seconds=1))
    # Analysed long before the last run and never clustered: not "new" any more.
    forgotten = make_media(page, url="https://old.example/copy.jpg")
    mark_analysed(forgotten, photos.analysis(0, "caption"), when=watermark - timedelta(hours=1))

    report = compute.update_clusters_for_new_media(built.land.pk)

    assert (report.mode, report.new_media) == ("incremental", 1)
    assert fresh.pk in next(group for group in partition(built.land.pk) if built.media[(1, "original")].pk in group)
    assert Media.objects.get(pk=forgotten.pk).cluster_id is None
    assert LandClustering.objects.get(land=built.land).started_at > watermark
    # An explicit list does not move the watermark: it says nothing of the other media.
    before = LandClustering.objects.get(land=built.land).started_at
    compute.update_clusters_for_media(built.land.pk, [forgotten.pk])
    assert LandClustering.objects.get(land=built.land).started_at == before
    assert Media.objects.get(pk=forgotten.pk).cluster_id is not None


def test_media_of_other_lands_and_unknown_ids_are_ignored(photos):
    built = build_photo_land(photos, [0], ["half"])
    compute.recluster_land(built.land.pk)
    elsewhere = analysed_media(make_expression(make_land()), photos.analysis(0, "grey"))

    report = compute.update_clusters_for_media(built.land.pk, [elsewhere.pk, 10**9])

    assert (report.new_media, report.media_changed) == (0, 0)
    assert Media.objects.get(pk=elsewhere.pk).cluster_id is None


def test_an_unknown_land_is_reported():
    with pytest.raises(Land.DoesNotExist):
        compute.recluster_land(10**9)


# --- Manual corrections ----------------------------------------------------------------------


def test_a_split_survives_full_and_incremental_recomputations(photos, admin_user):
    built = build_photo_land(photos, [2], ALL_EDITS)
    compute.recluster_land(built.land.pk)
    cluster = ImageCluster.objects.get(land=built.land)
    detached = {built.media[(2, "mirror")].pk, built.media[(2, "grey")].pk}

    result = corrections.split_cluster(cluster, detached, user=admin_user)

    stay = built.ids(2) - detached
    assert result.links == 2 * 5
    assert partition(built.land.pk) == {frozenset(stay), frozenset(detached)}
    assert ClusterLink.objects.filter(land=built.land, kind="cannot", created_by=admin_user).count() == 10
    assert cluster.pk in result.cluster_ids
    assert Media.objects.get(pk=built.media[(2, "original")].pk).cluster_id == cluster.pk

    assert_full_recompute_changes_nothing(built.land.pk)
    # A new copy close to both sides: recomputed fully (the split is in its region), the split holds.
    newcomer = analysed_media(make_expression(built.land), photos.analysis(2, "jpeg50"))
    report = compute.update_clusters_for_media(built.land.pk, [newcomer.pk])
    assert (report.mode, report.reason) == ("full", "a manual split involves these images")
    assert frozenset(detached) in partition(built.land.pk)
    assert frozenset(stay | {newcomer.pk}) in partition(built.land.pk)


def test_a_merge_survives_recomputation_and_withdraws_earlier_splits(photos, admin_user):
    built = build_photo_land(photos, [3, 4], ["half", "caption"])
    compute.recluster_land(built.land.pk)
    three = ImageCluster.objects.get(key=min(built.ids(3)))
    corrections.split_cluster(three, [built.media[(3, "caption")].pk], user=admin_user)
    three.refresh_from_db()
    four = ImageCluster.objects.get(key=min(built.ids(4)))
    assert Media.objects.get(pk=built.media[(3, "caption")].pk).cluster_id is None  # split off, alone

    result = corrections.merge_clusters(three, four, user=admin_user)

    assert partition(built.land.pk) == {
        frozenset(built.ids(3) | built.ids(4)) - {built.media[(3, "caption")].pk},
    }
    assert ClusterLink.objects.filter(land=built.land, kind="must").count() == 1
    assert result.cluster_ids == [Media.objects.get(pk=built.media[(3, "original")].pk).cluster_id]
    assert_full_recompute_changes_nothing(built.land.pk)


def test_merging_two_clusters_then_undoing_it_by_a_split(photos, admin_user):
    built = build_photo_land(photos, [6, 7], ["half"])
    compute.recluster_land(built.land.pk)
    a, b = (ImageCluster.objects.get(key=min(built.ids(p))) for p in (6, 7))
    merged = corrections.merge_clusters(a.pk, b.pk, user=admin_user).cluster_ids[0]
    assert partition(built.land.pk) == {frozenset(built.ids(6) | built.ids(7))}

    corrections.split_cluster(merged, built.ids(7), user=admin_user)

    assert partition(built.land.pk) == {frozenset(built.ids(6)), frozenset(built.ids(7))}
    # The must-link between the two was replaced by a cannot-link: one decision per pair.
    assert not ClusterLink.objects.filter(land=built.land, kind="must").exists()


def test_identical_files_move_together_in_a_split(photos):
    land = make_land()
    analysis = photos.analysis(1)
    twins = [analysed_media(make_expression(land), analysis) for _ in range(2)]
    copy = analysed_media(make_expression(land), photos.analysis(1, "half"))
    compute.recluster_land(land.pk)
    cluster = ImageCluster.objects.get(land=land)

    result = corrections.split_cluster(cluster, [twins[0].pk])

    assert result.moved_with_identical == [twins[1].pk]
    assert result.links == 1  # one file on each side
    assert partition(land.pk) == {frozenset(m.pk for m in twins)}
    assert Media.objects.get(pk=copy.pk).cluster_id is None
    with pytest.raises(InvalidParameters, match="keep at least one"):
        corrections.split_cluster(ImageCluster.objects.get(land=land), [twins[0].pk])


@pytest.mark.parametrize("case", ["unknown member", "nothing", "not an id"])
def test_invalid_splits_are_refused(photos, case):
    built = build_photo_land(photos, [0], ["half", "grey"])
    compute.recluster_land(built.land.pk)
    cluster = ImageCluster.objects.get(land=built.land)
    members = {"unknown member": [10**9], "nothing": [], "not an id": ["x"]}[case]

    with pytest.raises(InvalidParameters):
        corrections.split_cluster(cluster, members)
    assert not ClusterLink.objects.exists()


def test_invalid_merges_are_refused(photos):
    one = build_photo_land(photos, [0], ["half"])
    two = build_photo_land(photos, [1], ["half"])
    compute.recluster_land(one.land.pk)
    compute.recluster_land(two.land.pk)
    a = ImageCluster.objects.get(land=one.land)
    b = ImageCluster.objects.get(land=two.land)

    with pytest.raises(InvalidParameters, match="itself"):
        corrections.merge_clusters(a, a)
    with pytest.raises(InvalidParameters, match="different lands"):
        corrections.merge_clusters(a, b)
    with pytest.raises(InvalidParameters, match="does not exist"):
        corrections.merge_clusters(a, 10**9)
    assert not ClusterLink.objects.exists()


# --- Details and distances ---------------------------------------------------------------------


def test_details_list_members_domains_timeline_and_distances(photos, django_assert_num_queries):
    built = build_photo_land(photos, [0], ALL_EDITS)
    compute.recluster_land(built.land.pk)
    cluster = ImageCluster.objects.get(land=built.land)

    with django_assert_num_queries(3):
        details = queries.cluster_details(cluster.pk)

    assert details.member_count == 7
    assert details.members[0].pk == cluster.representative_id
    assert [entry.date_source for entry in details.timeline] == ["published", *["fetched"] * 6]
    assert details.first.page_id == built.media[(0, "original")].expression_id
    assert details.first.domain == built.domains[0].name
    expected_domains = [(built.domains[0].name, 1, 1), *((d.name, 2, 2) for d in built.domains[1:])]
    assert sorted(details.domains) == sorted(expected_domains)
    by_id = {m.pk: i for i, m in enumerate(details.distance_members)}
    mirror = by_id[built.media[(0, "mirror")].pk]
    original = by_id[built.media[(0, "original")].pk]
    assert details.distances[original][original] is None
    assert details.distances[original][mirror].mirrored
    assert details.distances[original][mirror].phash <= 10
    assert details.distances[original][mirror].dhash <= 12
    assert not details.distances[original][by_id[built.media[(0, "half")].pk]].mirrored


def test_details_are_capped_but_counts_are_not(photos):
    built = build_photo_land(photos, [0], ALL_EDITS)
    compute.recluster_land(built.land.pk)

    details = queries.cluster_details(ImageCluster.objects.get(land=built.land).pk, member_limit=3, distance_limit=2)

    assert (len(details.members), details.member_count, details.truncated) == (3, 7, True)
    assert len(details.distances) == 2
    assert sum(media for _, _, media in details.domains) == 7


def test_pairwise_distances_flag_identical_files():
    a = HashedImage(key=1, sha256="ab", phash=0b1011, dhash=0)
    b = HashedImage(key=2, sha256="ab", phash=0b1011, dhash=0)
    c = HashedImage(key=3, phash=None)

    table = queries.pairwise_distances([a, b, c])

    assert table[0][1] == queries.Distance(phash=0, dhash=0, mirrored=False, identical=True)
    assert table[0][2] == queries.Distance(phash=None, dhash=None)


def test_member_previews_put_the_representative_first_in_one_query(photos, django_assert_num_queries):
    built = build_photo_land(photos, range(3), ALL_EDITS)
    compute.recluster_land(built.land.pk)
    rows = list(ImageCluster.objects.filter(land=built.land))

    with django_assert_num_queries(1):
        previews = queries.member_previews([c.pk for c in rows], per_cluster=3)

    assert {cid: len(items) for cid, items in previews.items()} == {c.pk: 3 for c in rows}
    assert all(previews[c.pk][0].pk == c.representative_id for c in rows)


# --- Query counts -----------------------------------------------------------------------------


def _count_queries(function, *args):
    with CaptureQueriesContext(connection) as captured:
        function(*args)
    return len(captured)


def test_query_counts_do_not_depend_on_the_number_of_clusters(photos):
    small = build_photo_land(photos, [0], ["half", "grey"])
    large = build_photo_land(photos, range(8), ALL_EDITS)

    assert _count_queries(compute.recluster_land, small.land.pk) == _count_queries(
        compute.recluster_land, large.land.pk
    )
    # Unchanged lands: no write at all.
    assert _count_queries(compute.recluster_land, small.land.pk) == _count_queries(
        compute.recluster_land, large.land.pk
    )
    # Savepoint, land, state (get_or_create, then locked), images, links, clusters, appearance dates,
    # totals, state, release.
    assert _count_queries(compute.recluster_land, large.land.pk) == 11

    def add_copy(built, picture):
        media = analysed_media(make_expression(built.land), photos.analysis(picture, "jpeg50"))
        return lambda: compute.update_clusters_for_media(built.land.pk, [media.pk])

    assert _count_queries(add_copy(small, 0)) == _count_queries(add_copy(large, 5))
