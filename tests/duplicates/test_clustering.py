"""Clustering rules on hand-made hashes: identity, confirmation, incremental runs, manual corrections."""

from __future__ import annotations

import random

import pytest

from media_analysis.engine.duplicates.clusterer import (
    ClusterParams,
    NearDuplicateClusterer,
    cluster_labels,
    split_links,
)
from media_analysis.engine.duplicates.hashes import HashedImage

BASE_P = 0x9DB8C2C7445DBB24
BASE_D = 0xBFBF3A383C3870E0
BASE_C = 0x07C40000000


def flip(value: int, *bits: int) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


def image(key: int, p: int | None = BASE_P, d: int | None = BASE_D, c: int | None = BASE_C, sha=None) -> HashedImage:
    return HashedImage(key=key, sha256=sha, phash=p, dhash=d, colorhash=c)


def clustered(*items: HashedImage, params: ClusterParams | None = None, **constraints) -> NearDuplicateClusterer:
    clusterer = NearDuplicateClusterer(params)
    clusterer.apply_constraints(**constraints)
    clusterer.add(items)
    return clusterer


FAR_D = BASE_D ^ 0xFFFFFFFF00000000  # 32 bits away
FAR_C = BASE_C ^ 0x3FF  # 10 bits away


def test_identical_files_are_together_whatever_their_hashes():
    sha = "ab" * 32
    clusterer = clustered(
        image(1, sha=sha),
        image(2, p=BASE_P ^ 0xFFFF_FFFF, d=FAR_D, c=FAR_C, sha=sha.upper()),
        HashedImage.from_hex(3, sha256=f" {sha.upper()} "),  # no perceptual hash at all
        image(4, p=BASE_P ^ 0xFFFF_FFFF_0000, d=FAR_D, c=FAR_C, sha="cd" * 32),
    )

    assert clusterer.clusters() == [[1, 2, 3]]
    assert clusterer.clusters(include_singletons=True) == [[1, 2, 3], [4]]
    assert clusterer.cluster_of(3) == 1
    assert clusterer.cluster_of(4) == 4


def test_phash_match_alone_is_not_enough():
    close_p = flip(BASE_P, 3, 17, 40, 61)  # 4 bits away
    clusterer = clustered(image(1), image(2, p=close_p, d=FAR_D, c=FAR_C))

    assert clusterer.clusters() == []
    assert clusterer.edges() == []


@pytest.mark.parametrize(
    ("d", "c", "linked"),
    [
        (flip(BASE_D, 1, 2, 3, 4, 5), FAR_C, True),  # dHash confirms (5 <= 12)
        (FAR_D, flip(BASE_C, 7, 30), True),  # colour hash confirms (2 <= 2)
        (None, flip(BASE_C, 0), True),  # dHash unknown, colour hash confirms
        (flip(BASE_D, *range(13)), FAR_C, False),  # dHash 13 > 12, colour 10 > 2
        (FAR_D, flip(BASE_C, 0, 7, 30), False),  # colour 3 > 2
        (None, None, False),  # nothing to confirm with
    ],
)
def test_confirmation_by_dhash_or_colour_hash(d, c, linked):
    clusterer = clustered(image(1), image(2, p=flip(BASE_P, 0, 9), d=d, c=c))

    assert (clusterer.clusters() == [[1, 2]]) is linked
    assert clusterer.edges() == ([(1, 2, 2)] if linked else [])


def test_phash_threshold_is_inclusive_and_configurable():
    eleven = flip(BASE_P, *range(0, 22, 2))
    ten = flip(BASE_P, *range(0, 20, 2))

    assert clustered(image(1), image(2, p=ten)).clusters() == [[1, 2]]
    assert clustered(image(1), image(2, p=eleven)).clusters() == []
    assert clustered(image(1), image(2, p=eleven), params=ClusterParams(phash_threshold=12)).clusters() == [[1, 2]]


def test_clusters_are_transitive_and_ordered():
    a, b = BASE_P, flip(BASE_P, *range(8))
    c = flip(b, *range(8, 16))  # 16 bits from a: linked only through b
    other = BASE_P ^ 0xFFFF_0000_FFFF_0000
    clusterer = clustered(image(30, p=c), image(10, p=a), image(20, p=b), image(5, p=other), image(7, p=other))

    assert clusterer.clusters() == [[5, 7], [10, 20, 30]]
    assert clusterer.labels() == {5: 5, 7: 5, 10: 10, 20: 10, 30: 10}
    assert clusterer.edges() == [(5, 7, 0), (10, 20, 8), (20, 30, 8)]


def synthetic(seed: int, groups: int, singles: int) -> list[HashedImage]:
    rng = random.Random(seed)
    items: list[HashedImage] = []
    for _ in range(singles):
        items.append(image(len(items), rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(42)))
    for _ in range(groups):
        p, d, c = rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(42)
        for _ in range(rng.randint(2, 6)):
            copy_p = flip(p, *rng.sample(range(64), rng.randint(0, 7)))
            copy_d = flip(d, *rng.sample(range(64), rng.randint(0, 10)))
            sha = f"{p:064x}" if rng.random() < 0.1 else None
            items.append(image(len(items), copy_p, copy_d, c, sha=sha))
    rng.shuffle(items)
    return items


def test_incremental_additions_equal_one_batch():
    items = synthetic(1, groups=300, singles=1500)
    batch = clustered(*items)
    assert len(batch.clusters()) > 250

    incremental = NearDuplicateClusterer()
    for start in range(0, len(items), 377):
        incremental.add(items[start : start + 377])
        assert len(incremental) == min(start + 377, len(items))

    assert incremental.clusters(include_singletons=True) == batch.clusters(include_singletons=True)
    assert incremental.edges() == batch.edges()
    assert incremental.labels() == batch.labels()


def test_incremental_additions_equal_one_batch_under_constraints():
    items = synthetic(2, groups=200, singles=800)
    groups = clustered(*items).clusters()
    # Split every third cluster in two, merge some pairs of clusters.
    cannot = [link for g in groups[::3] for link in split_links(g[: len(g) // 2], g[len(g) // 2 :])]
    must = [(groups[i][0], groups[i + 1][-1]) for i in range(1, len(groups) - 1, 5)]
    batch = clustered(*items, must_link=must, cannot_link=cannot)

    incremental = NearDuplicateClusterer()
    incremental.apply_constraints(must_link=must[: len(must) // 2], cannot_link=cannot)
    for start in range(0, len(items), 250):
        incremental.add(reversed(items[start : start + 250]))
        if start == 500:
            incremental.apply_constraints(must_link=must[len(must) // 2 :])

    assert incremental.clusters(include_singletons=True) == batch.clusters(include_singletons=True)
    assert batch.clusters() != groups


def test_duplicate_keys_and_oversized_hashes_are_refused():
    clusterer = clustered(image(1))
    with pytest.raises(ValueError, match="already added"):
        clusterer.add([image(1)])
    with pytest.raises(ValueError, match="already added"):
        clusterer.add([image(2), image(2)])
    with pytest.raises(ValueError, match="phash of key 3"):
        clusterer.add([image(3, p=1 << 64)])
    assert len(clusterer) == 1
    with pytest.raises(KeyError):
        clusterer.cluster_of(99)


# --- manual corrections ------------------------------------------------------------

CHAIN = [  # 1 ~ 2 (2 bits), 2 ~ 3 (6 bits), 1 and 3 are 8 bits apart
    image(1, p=BASE_P),
    image(2, p=flip(BASE_P, 0, 1)),
    image(3, p=flip(BASE_P, 0, 1, 2, 3, 4, 5, 6, 7)),
]


def test_merge_survives_reclustering_from_scratch():
    stranger = image(9, p=BASE_P ^ 0xFFFF_FFFF, d=FAR_D, c=FAR_C)
    first = clustered(*CHAIN, stranger)
    assert first.clusters() == [[1, 2, 3]]

    first.apply_constraints(must_link=[(9, 3)])
    assert first.clusters() == [[1, 2, 3, 9]]

    again = clustered(stranger, *reversed(CHAIN), must_link=first.constraints[0])
    assert again.clusters() == [[1, 2, 3, 9]]


def test_split_survives_reclustering_and_new_images_join_their_nearest_side():
    first = clustered(*CHAIN)
    first.apply_constraints(cannot_link=split_links([1, 2], [3]))
    assert first.clusters(include_singletons=True) == [[1, 2], [3]]
    assert first.edges() == [(1, 2, 2), (1, 3, 8), (2, 3, 6)], "refused edges are still reported"

    must, cannot = first.constraints
    # Reclustered from scratch with a new image 2 bits from 3 and 6 bits from 1: it joins 3.
    newcomer = image(4, p=flip(BASE_P, 2, 3, 4, 5, 6, 7))
    again = clustered(newcomer, *CHAIN, must_link=must, cannot_link=cannot)
    assert again.clusters() == [[1, 2], [3, 4]]


def test_strongest_edge_wins_between_cannot_linked_images():
    # 5 is 2 bits from 1 and 4 bits from 3; 1 and 3 may not meet.
    one, three = image(1, p=BASE_P), image(3, p=flip(BASE_P, *range(6)))
    five = image(5, p=flip(BASE_P, 0, 1))
    assert clustered(one, three, five, cannot_link=[(3, 1)]).clusters() == [[1, 5]]
    assert clustered(five, three, one, cannot_link=[(1, 3)]).clusters() == [[1, 5]]


def test_cannot_link_between_identical_files_is_ignored():
    sha = "ef" * 32
    clusterer = clustered(image(1, sha=sha), image(2, p=0, d=0, c=0, sha=sha), cannot_link=[(1, 2)])

    assert clusterer.clusters() == [[1, 2]]
    assert clusterer.ignored_cannot_links() == [(1, 2)]


def test_latest_constraint_on_a_pair_wins():
    clusterer = clustered(*CHAIN[:2])
    clusterer.apply_constraints(cannot_link=[(1, 2)])
    assert clusterer.clusters() == []
    clusterer.apply_constraints(must_link=[(2, 1)])
    assert clusterer.clusters() == [[1, 2]]
    assert clusterer.constraints == (frozenset({(1, 2)}), frozenset())


def test_constraints_on_keys_not_added_yet_apply_when_they_arrive():
    stranger = image(9, p=BASE_P ^ 0xFFFF_FFFF, d=FAR_D, c=FAR_C)
    clusterer = NearDuplicateClusterer()
    clusterer.apply_constraints(must_link=[(1, 9)])
    clusterer.add([CHAIN[0]])
    assert clusterer.clusters() == []
    clusterer.add([stranger])
    assert clusterer.clusters() == [[1, 9]]


def test_cluster_labels_from_scratch():
    labels = cluster_labels([*CHAIN, image(7, p=BASE_P ^ 0xFFFF_FFFF, d=FAR_D, c=FAR_C)], cannot_link=[(2, 3)])
    assert labels == {1: 1, 2: 1, 3: 3, 7: 7}


def test_colour_hash_threshold_is_configurable():
    copy = image(2, p=flip(BASE_P, 0, 9), d=FAR_D, c=flip(BASE_C, 0, 7, 30, 31))

    assert clustered(image(1), copy).clusters() == []
    assert clustered(image(1), copy, params=ClusterParams(colorhash_threshold=4)).clusters() == [[1, 2]]


def test_colour_hash_confirmation_can_be_switched_off():
    copy = image(2, p=flip(BASE_P, 0, 9), d=FAR_D, c=BASE_C)

    assert clustered(image(1), copy).clusters() == [[1, 2]]
    assert clustered(image(1), copy, params=ClusterParams(colorhash_threshold=None)).clusters() == []
