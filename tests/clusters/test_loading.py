"""Reading a land's hashes and writing its clusters: the column path against a row-by-row reading."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lands.models import AnalysisStatus, Media
from media_analysis.clusters import compute
from media_analysis.clusters.params import hashed_item
from media_analysis.engine.duplicates.hashes import HashArrays
from media_analysis.engine.image.regions import REGION_COUNT, RegionHashes
from media_analysis.models import ImageCluster
from tests.clusters.conftest import analysed_media, partition, synthetic
from tests.factories import make_expression, make_land, make_media

pytestmark = pytest.mark.django_db


def _regions(rng: random.Random) -> str:
    hashes = tuple((rng.getrandbits(64), rng.getrandbits(64)) for _ in range(REGION_COUNT))
    return RegionHashes(box=(0, 0, 1000, 1000), hashes=hashes).hex()


def _odd_land(rng: random.Random):
    """A land whose stored hashes are clean, blank, padded, in capitals or garbage, with rows the run must skip."""
    land = make_land()
    clean = [
        analysed_media(
            make_expression(land),
            image_hash=f"{rng.getrandbits(256):064x}",
            phash=f"{rng.getrandbits(64):016x}",
            dhash=f"{rng.getrandbits(64):016x}",
            colorhash=f"{rng.getrandbits(42):011x}",
            region_hashes=_regions(rng),
        )
        for _ in range(7)
    ]
    odd = [
        analysed_media(make_expression(land), image_hash=" " + "AB" * 31 + "C", phash=" 0F0F0F0F0F0F0F "),
        analysed_media(make_expression(land), image_hash="", phash="not hex", dhash="0x12", colorhash="-5"),
        analysed_media(make_expression(land), image_hash="e" * 64, phash="ABCDEF0123456789", region_hashes="0" * 364),
        analysed_media(make_expression(land), phash="abc", dhash="", region_hashes=" " + _regions(rng).upper()),
        analysed_media(make_expression(land), phash="   ", image_hash="   "),  # analysed, nothing readable
        analysed_media(make_expression(land), image_hash=None, phash=None, region_hashes=_regions(rng)),
    ]
    skipped = [
        make_media(make_expression(land), phash=f"{rng.getrandbits(64):016x}"),  # not analysed yet
        analysed_media(make_expression(land), type="video", phash=f"{rng.getrandbits(64):016x}"),
    ]
    make_media(make_expression(make_land()), phash="0" * 16, analysis_status=AnalysisStatus.DONE)  # another land
    return land, clean + odd, skipped


def _reference(media_ids: list[int]) -> HashArrays:
    """The land's hashes read row by row, as the per-image parsers read them."""
    rows = Media.objects.filter(pk__in=media_ids).values_list(
        "id", "image_hash", "phash", "dhash", "colorhash", "region_hashes"
    )
    items = [hashed_item(*row) for row in rows]
    return HashArrays.from_items(sorted((item for item in items if item is not None), key=lambda item: item.key))


def _by_key(arrays: HashArrays) -> HashArrays:
    return arrays.take(np.argsort(arrays.keys, kind="stable"))


@pytest.mark.parametrize("batch", [3, 20_000])
def test_a_land_loads_in_batches_as_each_row_reads(monkeypatch, batch):
    land, analysed, skipped = _odd_land(random.Random(19))
    # A media that sits in a cluster but is no longer clusterable is loaded for its cluster only.
    cluster = ImageCluster.objects.create(land=land, key=skipped[0].pk, size=1)
    Media.objects.filter(pk=skipped[0].pk).update(cluster=cluster)
    monkeypatch.setattr(compute, "_LOAD_BATCH", batch)

    loaded = compute._load_land(land.pk)

    # Not the image without a SHA-256 or a pHash: it can neither be clustered nor sit in a cluster.
    assert sorted(loaded.ids) == sorted([m.pk for m in analysed[:-1]] + [skipped[0].pk])
    assert loaded.cluster_of(skipped[0].pk) == cluster.pk
    assert all(loaded.cluster_of(m.pk) is None for m in analysed[:-1])
    got, expected = _by_key(loaded.items), _reference([m.pk for m in analysed])
    # Nor those whose SHA-256 and pHash are blank or unreadable: loaded, not clusterable.
    assert set(got.keys.tolist()) == {m.pk for m in analysed} - {analysed[8].pk, analysed[11].pk, analysed[12].pk}
    for name in HashArrays.__dataclass_fields__:
        assert np.array_equal(getattr(got, name), getattr(expected, name)), name


def test_an_empty_land_loads_as_no_image():
    loaded = compute._load_land(make_land().pk)

    assert loaded.ids == []
    assert len(loaded.items) == 0


def test_cluster_figures_are_written_as_given_nulls_included():
    land = make_land()
    pairs = [
        (synthetic(make_expression(land), base, 0x1234), synthetic(make_expression(land), base ^ 1, 0x1234))
        for base in (0x0F0F_0F0F_0F0F_0F0F, 0x7777_0000_FFFF_1111)
    ]
    compute.recluster_land(land.pk)
    clusters = list(ImageCluster.objects.filter(land=land).order_by("pk"))
    now = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)
    for cluster, (_, b) in zip(clusters, pairs, strict=True):
        # Every row of a column NULL: the statement must still give each column its type.
        cluster.first_seen_at = None
        cluster.first_expression_id = None
        cluster.first_domain_id = None
        cluster.size, cluster.distinct_pages, cluster.key = 7, 5, b.pk
        cluster.representative_id = b.pk
        cluster.updated_at = now

    compute._update_clusters(clusters)

    for cluster in ImageCluster.objects.filter(land=land).order_by("pk"):
        assert (cluster.first_seen_at, cluster.first_expression_id, cluster.first_domain_id) == (None, None, None)
        assert (cluster.size, cluster.distinct_pages, cluster.updated_at) == (7, 5, now)
        assert cluster.key == cluster.representative_id
    assert {c.key for c in ImageCluster.objects.filter(land=land)} == {b.pk for _, b in pairs}


def test_memberships_are_written_as_given_and_other_rows_keep_theirs():
    land = make_land()
    a, b, c = (synthetic(make_expression(land), 0x0F0F_0F0F_0F0F_0F0F ^ bit, 0x1234) for bit in (0, 1, 2))
    lone = synthetic(make_expression(land), 0x7777_0000_FFFF_1111, 0x99)
    compute.recluster_land(land.pk)
    (cluster,) = ImageCluster.objects.filter(land=land)

    compute._assign_clusters([(a.pk, None), (b.pk, None), (lone.pk, cluster.pk)])

    assert dict(Media.objects.filter(expression__land=land).values_list("pk", "cluster_id")) == {
        a.pk: None,
        b.pk: None,
        c.pk: cluster.pk,
        lone.pk: cluster.pk,
    }
    # The next full run puts everything back.
    report = compute.recluster_land(land.pk)
    assert partition(land.pk) == {frozenset({a.pk, b.pk, c.pk})}
    assert report.media_changed == 3


def _pairs_land(count: int, rng: random.Random) -> int:
    land = make_land()
    expression = make_expression(land)
    for _ in range(count):
        base = rng.getrandbits(64)
        synthetic(expression, base, 0x1234)
        synthetic(expression, base ^ 1, 0x1234)
    return land.pk


def test_a_first_run_costs_the_same_queries_whatever_it_writes_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite cuts id lists in chunks of 900 ids")
    rng = random.Random(7)
    small, large = _pairs_land(2, rng), _pairs_land(1000, rng)  # more than a chunk of ids, rows or memberships

    with CaptureQueriesContext(connection) as first_small:
        compute.recluster_land(small)
    with CaptureQueriesContext(connection) as first_large:
        report = compute.recluster_land(large)

    assert report.created == 1000
    assert report.media_changed == 2000
    # Savepoint, land, state (looked for, created in a savepoint of its own, locked), images, links,
    # clusters, member rows, inserts, memberships, totals, state, release.
    assert len(first_small) == len(first_large) == 16
