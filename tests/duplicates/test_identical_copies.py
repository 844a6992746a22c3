"""Folding identical copies before the search: same clusters, pairs bounded by the number of pictures."""

from __future__ import annotations

import random

import pytest

from media_analysis.engine.duplicates.clusterer import NearDuplicateClusterer, fold_identical
from media_analysis.engine.duplicates.hashes import HashArrays, HashedImage
from media_analysis.engine.image.regions import REGION_COUNT


def _clusters(items: HashArrays, must=(), cannot=(), fold: bool = True) -> tuple[list[list[int]], int]:
    """Clusters of ``items`` and the number of confirmed pairs the clusterer kept."""
    clusterer = NearDuplicateClusterer()
    clusterer.apply_constraints(must_link=must, cannot_link=cannot)
    if not fold:
        clusterer.add(items)
        return clusterer.clusters(), len(clusterer.edges())
    copies = fold_identical(items, keep_apart={key for pair in (*must, *cannot) for key in pair})
    clusterer.add(copies.distinct)
    return copies.expand(clusterer.clusters()), len(clusterer.edges())


def _flip(value: int, rng: random.Random, bits: int) -> int:
    for bit in rng.sample(range(64), bits):
        value ^= 1 << bit
    return value


def test_a_picture_repeated_many_times_is_one_cluster_searched_as_one_item():
    rng = random.Random(7)
    items = []
    for picture in range(3):
        p, d = rng.getrandbits(64), rng.getrandbits(64)
        regions = tuple(rng.getrandbits(64) for _ in range(REGION_COUNT))
        for copy in range(300):
            # Distinct bytes (distinct SHA-256), the same pixels.
            items.append(
                HashedImage(
                    key=1000 * picture + copy + 1,
                    sha256=f"{picture:032x}{copy:032x}",
                    phash=p,
                    dhash=d,
                    region_phashes=regions,
                    region_dhashes=regions,
                )
            )
    items.append(HashedImage(key=5000, phash=rng.getrandbits(64), dhash=rng.getrandbits(64)))
    arrays = HashArrays.from_items(items)

    copies = fold_identical(arrays)
    clusters, pairs = _clusters(arrays)

    assert len(copies.distinct) == 4
    assert clusters == [list(range(1000 * picture + 1, 1000 * picture + 301)) for picture in range(3)]
    # The search meets each picture once: no pair grows with the number of copies.
    assert pairs <= len(copies.distinct)
    assert clusters == _clusters(arrays, fold=False)[0]


def test_copies_named_by_a_manual_link_or_without_a_confirming_hash_are_not_folded():
    p, d = 0x9DB8C2C7445DBB24, 0xBFBF3A383C3870E0
    items = HashArrays.from_items(
        [
            HashedImage(key=1, phash=p, dhash=d),
            HashedImage(key=2, phash=p, dhash=d),
            HashedImage(key=3, phash=p, dhash=d),
            # No dHash nor colour hash: the pHash alone confirms nothing.
            HashedImage(key=4, phash=p),
            HashedImage(key=5, phash=p),
            # One file under two URLs: the same bytes join whatever the hashes.
            HashedImage(key=6, sha256="ab" * 32),
            HashedImage(key=7, sha256="ab" * 32),
        ]
    )

    copies = fold_identical(items, keep_apart={3})

    assert sorted(zip(copies.folded.tolist(), copies.into.tolist(), strict=True)) == [(2, 1), (7, 6)]
    assert copies.distinct.keys.tolist() == [1, 3, 4, 5, 6]
    clusters = copies.expand([[1, 3]])
    assert clusters == [[1, 2, 3], [6, 7]]


@pytest.mark.parametrize("seed", range(300))
def test_folding_gives_the_clusters_of_every_item_under_random_links(seed):
    """Copies, near copies, shared files and manual links at random: the same partition folded or not."""
    rng = random.Random(seed)
    items = []
    key = 0
    for _ in range(rng.randint(2, 5)):
        p, d = rng.getrandbits(64), rng.getrandbits(64)
        for _ in range(rng.randint(1, 8)):
            key += 1
            kind = rng.random()
            if kind < 0.5:
                phash, dhash = p, d
            else:
                phash, dhash = _flip(p, rng, rng.randint(1, 12)), _flip(d, rng, rng.randint(0, 14))
            sha = f"{rng.randint(0, 3):064x}" if rng.random() < 0.3 else None
            has_d = rng.random() > 0.1
            items.append(HashedImage(key=key, sha256=sha, phash=phash, dhash=dhash if has_d else None))
    keys = [item.key for item in items]
    must = [tuple(rng.sample(keys, 2)) for _ in range(rng.randint(0, 2))]
    cannot = [tuple(rng.sample(keys, 2)) for _ in range(rng.randint(0, 4))]
    rng.shuffle(items)
    arrays = HashArrays.from_items(items)

    assert _clusters(arrays, must, cannot)[0] == _clusters(arrays, must, cannot, fold=False)[0]
