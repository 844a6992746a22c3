"""Copies under a semi-transparent band, and the colour hash of pictures without colour."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sklearn.datasets import load_sample_image

from media_analysis.engine.duplicates.clusterer import (
    ClusterParams,
    NearDuplicateClusterer,
    overlay_candidates,
    overlay_match,
)
from media_analysis.engine.duplicates.hashes import HashedImage, colorhash_has_colour
from media_analysis.engine.duplicates.relation import Member, relation
from tests.duplicates.test_regions import _item
from tests.support.photo_edits import watermark

WITHOUT_OVERLAY = ClusterParams(overlay_dhash_threshold=None)


def _quarters(name: str) -> list[Image.Image]:
    photo = Image.fromarray(load_sample_image(name))
    w, h = photo.size
    boxes = ((0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h), (w // 2, h // 2, w, h))
    return [photo.crop(box) for box in boxes]


@pytest.fixture(scope="module")
def roofs() -> Image.Image:
    # The bottom-right quarter of china.jpg: the band moves its pHash beyond the whole-image threshold.
    return _quarters("china.jpg")[3]


@pytest.fixture(scope="module")
def others() -> list[Image.Image]:
    return _quarters("china.jpg")[:3] + _quarters("flower.jpg")


def _graded(seed: int) -> Image.Image:
    """A left-to-right gradient with a few discs: every row brightens, so its dHash is nearly all ones."""
    w, h = 640, 480
    ramp = np.linspace(40, 220, w)[None, :, None] * np.ones((h, 1, 3))
    image = Image.fromarray(ramp.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        x, y = int(rng.integers(0, w - 120)), int(rng.integers(0, h - 120))
        size = int(rng.integers(30, 110))
        draw.ellipse((x, y, x + size, y + size), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return image


def test_a_copy_under_a_watermark_band_joins_its_original(roofs):
    items = [_item(0, roofs), _item(1, watermark(roofs))]
    before = NearDuplicateClusterer(WITHOUT_OVERLAY)
    before.add(items)
    assert before.clusters() == []
    now = NearDuplicateClusterer()
    now.add(items)
    assert now.clusters() == [[0, 1]]
    assert overlay_match(items[0], items[1], ClusterParams())


def test_different_pictures_under_the_same_band_stay_apart(roofs, others):
    items = [_item(0, roofs), _item(1, watermark(roofs))]
    items += [_item(10 + i, watermark(picture)) for i, picture in enumerate(others)]
    items += [_item(20 + i, picture) for i, picture in enumerate(others[:2])]
    clusterer = NearDuplicateClusterer()
    clusterer.add(items)
    assert clusterer.clusters() == [[0, 1], [10, 20], [11, 21]]


def test_a_dhash_of_nearly_one_value_proposes_nothing():
    # Two different graded pictures under the same band: their dHashes are all but equal.
    first, second = _item(0, watermark(_graded(1))), _item(1, watermark(_graded(2)))
    unguarded = NearDuplicateClusterer(ClusterParams(overlay_min_bits=0))
    unguarded.add([first, second])
    assert unguarded.clusters() == [[0, 1]]
    guarded = NearDuplicateClusterer()
    guarded.add([first, second])
    assert guarded.clusters() == []


def test_overlay_matches_found_incrementally_equal_a_single_pass(roofs, others):
    items = [_item(0, roofs), _item(1, others[4]), _item(2, watermark(roofs)), _item(3, watermark(others[4]))]
    once = NearDuplicateClusterer()
    once.add(items)
    for order in ([0, 1], [2, 3]), ([2, 3], [0, 1]):
        grown = NearDuplicateClusterer()
        for part in order:
            grown.add(items[k] for k in part)
        assert grown.clusters() == once.clusters()
    assert [0, 2] in once.clusters()


def test_overlay_candidates_find_the_old_picture_a_marked_copy_may_join(roofs, others):
    old = [_item(0, roofs), _item(1, others[4])]
    new = [_item(2, watermark(roofs))]
    assert overlay_candidates(old, new, ClusterParams()) == {0}
    assert overlay_candidates(old, new, WITHOUT_OVERLAY) == set()


def test_the_relation_of_a_marked_copy_is_overlay(roofs):
    representative = Member(_item(0, roofs), width=roofs.width, height=roofs.height)
    marked = Member(_item(1, watermark(roofs)), width=roofs.width, height=roofs.height)
    assert relation(representative, marked) == "overlay"


# --- the colour hash of a picture without colour ----------------------------------------

_GREY = 0x7000000000  # imagehash.colorhash of a picture that is all grey: no hue at all
_RED = 0x7000000007


def test_a_greyscale_colour_hash_has_no_colour():
    assert not colorhash_has_colour(_GREY)
    assert colorhash_has_colour(_RED)
    assert colorhash_has_colour(1 << 60)  # another layout: taken as coloured


@pytest.mark.parametrize(("colorhash", "joined"), [(_GREY, False), (_RED, True)])
def test_the_colour_hash_confirms_only_pictures_with_colour(colorhash, joined):
    # pHash within the threshold, dHash far: only the colour hash could confirm.
    items = [
        HashedImage(key=1, phash=0, dhash=0, colorhash=colorhash),
        HashedImage(key=2, phash=0b111, dhash=(1 << 40) - 1, colorhash=colorhash),
    ]
    clusterer = NearDuplicateClusterer()
    clusterer.add(items)
    assert clusterer.clusters() == ([[1, 2]] if joined else [])
    permissive = NearDuplicateClusterer(ClusterParams(colorhash_without_colour=True))
    permissive.add(items)
    assert permissive.clusters() == [[1, 2]]
