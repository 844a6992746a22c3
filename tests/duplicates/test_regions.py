"""Region hashes: frames trimmed, crops matched across regions, different pictures kept apart."""

from __future__ import annotations

import hashlib
import io
from functools import partial

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps
from sklearn.datasets import load_sample_image

from media_analysis.engine.duplicates.clusterer import ClusterParams, NearDuplicateClusterer, region_candidates
from media_analysis.engine.duplicates.hashes import HashedImage, parse_region_hashes
from media_analysis.engine.duplicates.relation import Member, relation
from media_analysis.engine.image import analyse_image
from media_analysis.engine.image.regions import HEX_LENGTH, REGION_COUNT, RegionHashes, region_hashes, trimmed_box
from tests.analysis.conftest import gradient
from tests.support.photo_edits import (
    ASYMMETRIC_SIDES,
    asymmetric_crop,
    centre_square,
    cut,
    cut_each_border,
    framed,
)


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def china() -> Image.Image:
    return Image.fromarray(load_sample_image("china.jpg"))


@pytest.fixture(scope="module")
def flower() -> Image.Image:
    return Image.fromarray(load_sample_image("flower.jpg"))


def _item(key: int, image: Image.Image) -> HashedImage:
    return HashedImage.from_analysis(key, analyse_image(_jpeg(image)))


# --- trimming ------------------------------------------------------------------------


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0), (200, 30, 40)])
def test_a_plain_frame_is_trimmed(china, colour):
    copy = framed(china, colour)
    border = round(max(china.size) * 0.08)
    pixels = np.asarray(copy)
    left, top, right, bottom = trimmed_box(pixels)
    assert abs(left - border) <= 1
    assert abs(top - border) <= 1
    assert abs((copy.width - right) - border) <= 1
    assert abs((copy.height - bottom) - border) <= 1


def test_a_picture_without_frame_is_left_whole(china):
    pixels = np.asarray(china)
    assert trimmed_box(pixels) == (0, 0, china.width, china.height)


def test_a_band_on_one_side_only_is_part_of_the_picture(china):
    # A plain band along the top (a sky, a margin) is not a frame: cutting it would depend on the copy.
    banded = Image.new("RGB", (china.width, china.height + 60), (250, 250, 250))
    banded.paste(china, (0, 60))
    assert trimmed_box(np.asarray(banded)) == (0, 0, banded.width, banded.height)


def test_an_object_on_a_white_background_is_not_taken_for_a_frame():
    image = Image.new("RGB", (600, 600), (255, 255, 255))
    ImageDraw.Draw(image).ellipse((150, 200, 450, 420), fill=(30, 90, 200))
    assert trimmed_box(np.asarray(image)) == (0, 0, 600, 600)


def _page() -> Image.Image:
    """A screenshot-like picture: a header and a sidebar on a white page whose bottom and right edges are white."""
    image = Image.new("RGB", (640, 400), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 640, 36), fill=(30, 60, 120))
    draw.rectangle((0, 36, 110, 400), fill=(235, 238, 242))
    for y in range(60, 380, 26):
        draw.text((130, y), "a line of text in the page " * 3, fill=(40, 40, 40))
    return image


@pytest.mark.parametrize("colour", [(255, 255, 255), (238, 238, 238)])
def test_a_frame_of_the_page_colour_is_trimmed_at_the_width_of_its_straight_sides(colour):
    # Only the left and top sides end on a straight edge (sidebar, header): the others are cut as wide.
    page = _page()
    copy = framed(page, colour)
    border = round(max(page.size) * 0.08)
    left, top, right, bottom = trimmed_box(np.asarray(copy))
    assert abs(left - border) <= 1
    assert abs(top - border) <= 1
    assert abs((copy.width - right) - border) <= 1
    assert abs((copy.height - bottom) - border) <= 1


def test_a_frame_is_trimmed_where_the_picture_meets_it_in_its_colour(china):
    # A dark coat fills most of the bottom edge: that side shows no straight edge in a dark frame.
    dark = china.copy()
    w, h = dark.size
    ImageDraw.Draw(dark).ellipse((w * 0.1, h * 0.6, w * 0.9, h * 1.4), fill=(24, 24, 32))
    copy = framed(dark, (24, 24, 32))
    border = round(max(dark.size) * 0.08)
    assert abs((copy.height - trimmed_box(np.asarray(copy))[3]) - border) <= 1


def test_a_frame_of_uneven_widths_without_straight_edges_is_left_alone():
    # An object on a plain background, off centre: no side ends on a straight edge at a common width.
    image = Image.new("RGB", (600, 500), (255, 255, 255))
    ImageDraw.Draw(image).ellipse((60, 150, 420, 400), fill=(30, 90, 200))
    ImageDraw.Draw(image).rectangle((200, 100, 260, 150), fill=(30, 90, 200))
    assert trimmed_box(np.asarray(image)) == (0, 0, 600, 500)


def test_region_hashes_round_trip_through_their_hex_form(china):
    hashes = region_hashes(china)
    text = hashes.hex()
    assert len(text) == HEX_LENGTH
    assert RegionHashes.from_hex(text) == hashes
    phashes, dhashes, trimmed = parse_region_hashes(text)
    assert len(phashes) == len(dhashes) == REGION_COUNT
    assert trimmed is False
    assert region_hashes(framed(china, (255, 255, 255))).trimmed


def test_the_analysis_stores_region_hashes_and_keeps_imagehash_hashes(china):
    result = analyse_image(_jpeg(china))
    assert result.region_hashes is not None
    assert len(result.region_hashes) == HEX_LENGTH
    assert "region_hashes" in result.as_fields()
    assert len(result.phash) == 16
    assert len(result.dhash) == 16


# --- matching --------------------------------------------------------------------------


def _asymmetric(image: Image.Image, variant: int) -> Image.Image:
    return asymmetric_crop(image, variant)


EDITS = {
    "framed": lambda im: framed(im, (255, 255, 255)),
    "framed black": lambda im: framed(im, (0, 0, 0)),
    "cut 5 % each border": cut_each_border,
    # 12 % off one side and 4 % off another, adjacent or opposite.
    **{f"asymmetric {variant}": partial(_asymmetric, variant=variant) for variant in range(len(ASYMMETRIC_SIDES))},
    "one side cut": lambda im: cut(im, 0.12, 0, 0, 0),
    "centre square": centre_square,
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_framed_and_cropped_copies_join_their_original(china, flower, edit):
    items = [_item(0, china), _item(1, EDITS[edit](china)), _item(2, flower), _item(3, EDITS[edit](flower))]
    clusterer = NearDuplicateClusterer()
    clusterer.add(items)
    assert clusterer.clusters() == [[0, 1], [2, 3]]


def test_without_region_hashes_the_frame_defeats_the_whole_image_hashes(china):
    items = [_item(0, china), _item(1, framed(china, (255, 255, 255)))]
    clusterer = NearDuplicateClusterer(ClusterParams(region_phash_threshold=None))
    clusterer.add(items)
    assert clusterer.clusters() == []


def test_different_pictures_in_the_same_frame_stay_apart(china, flower):
    w, h = china.size
    pictures = [china.crop((0, 0, w // 2, h)), china.crop((w // 2, 0, w, h)), flower]
    items = [_item(i, framed(picture, (255, 255, 255))) for i, picture in enumerate(pictures)]
    clusterer = NearDuplicateClusterer()
    clusterer.add(items)
    assert clusterer.clusters() == []


def test_incremental_region_matches_equal_a_single_pass(china, flower):
    items = [
        _item(0, china),
        _item(1, flower),
        _item(2, framed(china, (0, 0, 0))),
        _item(3, cut_each_border(flower)),
        _item(4, centre_square(china)),
    ]
    once = NearDuplicateClusterer()
    once.add(items)
    # Originals first, then copies; and copies first, then originals: both directions of the search.
    for order in ([0, 1], [2, 3, 4]), ([2, 3, 4], [0, 1]):
        grown = NearDuplicateClusterer()
        for part in order:
            grown.add(items[k] for k in part)
        assert grown.clusters() == once.clusters() == [[0, 2, 4], [1, 3]]


def test_region_candidates_find_the_old_pictures_a_new_copy_may_join(china, flower):
    old = [_item(0, china), _item(1, flower)]
    new = [_item(2, framed(flower, (20, 90, 160)))]
    assert region_candidates(old, new, ClusterParams().region_phash_threshold or 0) == {1}


def test_a_malformed_region_value_is_rejected():
    with pytest.raises(ValueError):
        parse_region_hashes("abc")
    assert parse_region_hashes(None) is None
    assert parse_region_hashes("  ") is None


# --- relation to the representative ------------------------------------------------------


def _member(key: int, image: Image.Image) -> Member:
    return Member(_item(key, image), width=image.width, height=image.height, greyscale=image.mode == "L")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda im: framed(im, (255, 255, 255)), "framed"),
        (cut_each_border, "cropped (centre)"),
        (centre_square, "square crop"),
        (ImageOps.mirror, "mirrored"),
        (lambda im: im.resize((im.width // 2, im.height // 2)), "resized"),
        (lambda im: im.convert("L"), "greyscale"),
    ],
)
def test_the_relation_names_the_edit(china, edit, expected):
    representative = _member(0, china)
    assert relation(representative, _member(1, edit(china))) == expected


def test_the_relation_of_the_representative_and_of_an_unrelated_member(china, flower):
    representative = _member(0, china)
    assert relation(representative, representative) == "representative"
    assert relation(representative, _member(1, flower)) == "indirect"
    same_bytes = Member(HashedImage(key=2, sha256=representative.item.sha256))
    assert relation(representative, same_bytes) == "identical file"


# Digests (first 32 hex digits of SHA-256) of region_hashes(...).hex() as analysis version 4 stores
# them, computed region by region before the grid geometry was shared by pictures of a size: a change
# of the computation must not move stored values (a change of the regions is a new analysis version).
_STORED_REGION_DIGESTS = {
    "china": "34c13c0c280f0bf0d6827528ecc6bc6a",
    "china framed": "63bc671651bbf2564a5f058459f0d20f",
    "flower grey": "ab9305a138b73e80f8437a44017c3276",
    "flower draft": "43cf8899d57a1e69e859d5024e58f467",
    "gradient": "4a5e997d5b4b2e7ad26cebb9b0ad2618",
    "tiny gradient": "41e3dd0a9227208356ea5ba62a55256b",
    "noise": "0e0b87eeaeb98d3b11192c84953c2a78",
}


def test_region_hashes_keep_their_stored_values(china, flower):
    cases = {
        "china": china,
        "china framed": ImageOps.expand(china.resize((320, 214)), border=(12, 20, 30, 8), fill=(250, 250, 250)),
        "flower grey": flower.convert("L"),
        "flower draft": flower.resize((150, 100), Image.Resampling.BOX),
        "gradient": gradient((300, 200)),
        "tiny gradient": gradient((20, 12)),
        "noise": Image.fromarray(np.random.default_rng(5).integers(0, 256, (97, 131, 3), dtype=np.uint8)),
    }
    assert region_hashes(cases["china framed"]).trimmed
    for name, image in cases.items():
        # Twice: the second reads the grid geometry computed by the first.
        for _ in range(2):
            digest = hashlib.sha256(region_hashes(image).hex().encode()).hexdigest()[:32]
            assert digest == _STORED_REGION_DIGESTS[name], name
