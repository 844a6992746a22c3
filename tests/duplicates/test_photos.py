"""Clustering copies of real photos: edited copies join their original, distinct pictures stay apart."""

from __future__ import annotations

from collections import defaultdict

import pytest

from media_analysis.engine.duplicates.clusterer import ClusterParams, NearDuplicateClusterer
from media_analysis.engine.duplicates.hashes import hamming, mirror_dhash, mirror_phash


def clusters_by_picture(items, truth, params=None) -> dict[int, set[str]]:
    """For each picture: the edits that ended in the original's cluster. Also checks nothing else did."""
    clusterer = NearDuplicateClusterer(params)
    clusterer.add(items)
    joined: dict[int, set[str]] = defaultdict(set)
    for cluster in clusterer.clusters():
        pictures = {truth[key][0] for key in cluster}
        assert len(pictures) == 1, f"distinct pictures grouped: {[truth[key] for key in cluster]}"
        originals = [key for key in cluster if truth[key][1] == "original"]
        if originals:
            joined[truth[originals[0]][0]].update(truth[key][1] for key in cluster if key not in originals)
    return joined


def test_edited_copies_join_their_original_and_distinct_pictures_stay_apart(edited_set):
    items, truth = edited_set

    joined = clusters_by_picture(items, truth)

    expected = frozenset({"half", "jpeg50", "crop5", "grey", "caption", "mirror"})
    assert {picture: joined.get(picture, set()) for picture in range(8)} == dict.fromkeys(range(8), expected)


def test_without_mirror_matching_mirrored_copies_stay_apart(edited_set):
    items, truth = edited_set

    joined = clusters_by_picture(items, truth, ClusterParams(mirrors=False))

    assert {picture: joined.get(picture, set()) for picture in range(8)} == dict.fromkeys(
        range(8), frozenset({"half", "jpeg50", "crop5", "grey", "caption"})
    )


def test_mirrored_hashes_predict_the_hashes_of_a_flipped_copy(edited_set):
    items, truth = edited_set
    by_truth = {truth[item.key]: item for item in items}

    for picture in range(8):
        original, flipped = by_truth[(picture, "original")], by_truth[(picture, "mirror")]
        assert hamming(original.phash, flipped.phash) > 16
        assert hamming(mirror_phash(original.phash), flipped.phash) <= 10
        assert hamming(mirror_dhash(original.dhash), flipped.dhash) <= 12


def test_reencoded_file_differs_by_bytes_but_not_by_cluster(edited_set):
    items, truth = edited_set
    by_truth = {truth[item.key]: item for item in items}
    original, copy = by_truth[(0, "original")], by_truth[(0, "jpeg50")]

    assert original.sha256 != copy.sha256
    clusterer = NearDuplicateClusterer()
    clusterer.add([original, copy])
    assert clusterer.clusters() == [sorted([original.key, copy.key])]


@pytest.mark.parametrize("edit", ["half", "caption", "grey"])
def test_edge_distances_are_small_for_light_edits(edited_set, edit):
    items, truth = edited_set
    clusterer = NearDuplicateClusterer()
    clusterer.add(items)
    distances = {
        d
        for a, b, d in clusterer.edges()
        if {truth[a][1], truth[b][1]} == {"original", edit} and truth[a][0] == truth[b][0]
    }
    assert distances, f"no edge between originals and their {edit} copies"
    assert max(distances) <= 6
