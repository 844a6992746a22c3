"""Hashes as columns (HashArrays): parsed like each value alone, clustered like HashedImage items."""

from __future__ import annotations

import math
import random
from itertools import combinations

import numpy as np
import pytest

from media_analysis.engine.duplicates import index as index_module
from media_analysis.engine.duplicates.clusterer import (
    ClusterParams,
    NearDuplicateClusterer,
    overlay_candidates,
    overlay_match,
    phash_candidates,
    region_candidates,
)
from media_analysis.engine.duplicates.hashes import (
    PHASH_MIRROR_MASK,
    HashArrays,
    HashedImage,
    colorhash_column_has_colour,
    colorhash_has_colour,
    hamming,
    mirror_dhash,
    parse_hex_column,
    parse_hex_hash,
    parse_region_column,
    parse_region_hashes,
)
from media_analysis.engine.duplicates.index import HammingIndex
from media_analysis.engine.image.regions import REGION_COUNT, RegionHashes


def _lenient(value: str | None, bits: int) -> int | None:
    """What a media row's hash means, one value at a time."""
    try:
        number = parse_hex_hash(value)
    except ValueError:
        return None
    return number if number is not None and number < (1 << bits) else None


def _odd_hex(rng: random.Random, bits: int) -> str | None:
    """A stored hash as imported lands hold them: mostly clean, sometimes not."""
    kind = rng.randrange(12)
    value = rng.getrandbits(bits)
    return [
        None,
        "",
        "   ",
        f"{value:x}",  # no leading zeros
        f"{value:0{bits // 4}X}",  # upper case
        f" {value:0{bits // 4}x} ",  # padded
        f"0x{value:x}",
        "+12ab",
        "zz",
        f"{value:0{bits // 4}x}"[:-3] + " " + "ab",  # inner space
        "1" + f"{value:0{bits // 4}x}",  # one digit too many
        "00" + f"{value:0{bits // 4}x}",  # too long, but fits
    ][kind]


@pytest.mark.parametrize("bits", [64, 128])
def test_a_column_parses_like_each_value(bits):
    rng = random.Random(bits)
    # Clean chunks, and chunks holding one odd value (they go through the per-value parser).
    values: list[str | None] = [f"{rng.getrandbits(bits):0{bits // 4}x}" for _ in range(9000)]
    for at in rng.sample(range(len(values)), 40):
        values[at] = _odd_hex(rng, bits)
    words, present = parse_hex_column(values, bits)
    for row, value in enumerate(values):
        expected = _lenient(value, bits)
        assert bool(present[row]) == (expected is not None), value
        got = 0
        for word in words[row].tolist():
            got = (got << 64) | word
        assert got == (expected or 0), value


def _region_text(rng: random.Random, trimmed: bool = False) -> str:
    box = (12, 0, 990, 1000) if trimmed else (0, 0, 1000, 1000)
    pairs = tuple((rng.getrandbits(64), rng.getrandbits(64)) for _ in range(REGION_COUNT))
    return RegionHashes(box=box, hashes=pairs).hex()


def _lenient_regions(value: str | None) -> tuple[tuple[int, ...], tuple[int, ...], bool] | None:
    try:
        return parse_region_hashes(value)
    except ValueError:
        return None


def test_a_region_column_parses_like_each_value():
    rng = random.Random(3)
    values: list[str | None] = [_region_text(rng, trimmed=rng.random() < 0.2) for _ in range(9000)]
    clean = _region_text(rng)
    odd = [
        None,
        "",
        "abc",
        f" {clean} ",
        clean.upper(),
        "zzz" + clean[3:],  # an unreadable box: read as trimmed, as before
        clean[:100] + "g" + clean[101:],
        clean[:100] + " " * 8 + clean[108:],  # the right length, but spaces
        clean[:-32],  # one region fewer: an older layout
    ]
    for at, value in zip(rng.sample(range(len(values)), len(odd)), odd, strict=True):
        values[at] = value
    columns = parse_region_column(values)
    for row, value in enumerate(values):
        expected = _lenient_regions(value)
        assert bool(columns.present[row]) == (expected is not None), value
        if expected is not None:
            assert tuple(columns.phashes[row].tolist()) == expected[0]
            assert tuple(columns.dhashes[row].tolist()) == expected[1]
            assert bool(columns.trimmed[row]) == expected[2]


def _flip(rng: random.Random, value: int, most: int) -> int:
    for bit in rng.sample(range(64), rng.randint(0, most)):
        value ^= 1 << bit
    return value


def planted_rows(seed: int, count: int) -> list[tuple[int, str | None, str | None, str | None, str | None, str | None]]:
    """(key, sha, pHash, dHash, colour hash, region hashes) rows as media store them: random pictures, planted copies.

    Copies: near whole-image hashes, mirrored ones, crops found by their regions only,
    identical files, copies under a band (overlay: the whole pHash moved, most regions'
    dHashes near), near pHashes confirmed by the colour hash alone; some images have no
    region hashes, no dHash or no colour hash, a colour hash without colour (greyscale:
    hue bins empty), or a trimmed whole's dHash of nearly one value (not searched).
    """
    rng = random.Random(seed)
    rows: list[tuple[int, str | None, str | None, str | None, str | None, str | None]] = []
    while len(rows) < count:
        p, d = rng.getrandbits(64), rng.getrandbits(64)
        # A greyscale picture's colour hash: black and grey shares only, no hue bits.
        c = rng.getrandbits(6) << 36 if rng.random() < 0.3 else rng.getrandbits(42)
        regions = [(rng.getrandbits(64), rng.getrandbits(64)) for _ in range(REGION_COUNT)]
        if rng.random() < 0.1:
            # A whole of nearly one value (a smooth gradient): fewer than 16 bits of one value.
            regions[0] = (regions[0][0], rng.getrandbits(64) & rng.getrandbits(64) & rng.getrandbits(64))
        sha = f"{rng.getrandbits(256):064x}"
        for copy in range(rng.choice([1, 1, 2, 3])):
            cp, cd, cregions, csha = p, d, list(regions), sha
            kind = rng.randrange(6) if copy else -1
            if kind == 0:  # re-encoded: a few bits
                cp, cd = _flip(rng, p, 6), _flip(rng, d, 10)
                csha = f"{rng.getrandbits(256):064x}"
            elif kind == 1:  # mirrored
                cp, cd = _flip(rng, p ^ PHASH_MIRROR_MASK, 3), mirror_dhash(d)
                csha = f"{rng.getrandbits(256):064x}"
            elif kind == 2:  # a crop: its whole is a region of the original
                region = rng.randrange(1, REGION_COUNT)
                cp, cd = rng.getrandbits(64), rng.getrandbits(64)
                cregions = [(rng.getrandbits(64), rng.getrandbits(64)) for _ in range(REGION_COUNT)]
                cregions[0] = (_flip(rng, regions[region][0], 4), _flip(rng, regions[region][1], 8))
                csha = f"{rng.getrandbits(256):064x}"
            elif kind == 4:  # under a band: pHashes moved, the trimmed whole's dHash and most regions' near
                cp, cd = rng.getrandbits(64), _flip(rng, d, 4)
                # Some copies agree on too few regions (14 of 19), or their wholes' dHashes are too far.
                agreeing = rng.choice([14, 15, 16, 19])
                covered = set(rng.sample(range(1, REGION_COUNT), REGION_COUNT - agreeing))
                cregions = [
                    (rng.getrandbits(64), rng.getrandbits(64) if at in covered else _flip(rng, dh, 6))
                    for at, (_, dh) in enumerate(regions)
                ]
                cregions[0] = (rng.getrandbits(64), _flip(rng, regions[0][1], rng.choice([5, 5, 6])))
                csha = f"{rng.getrandbits(256):064x}"
            elif kind == 5:  # a near pHash, a far dHash: only the colour hash may confirm
                cp, cd = _flip(rng, p, 6), rng.getrandbits(64)
                csha = f"{rng.getrandbits(256):064x}"
            # kind 3: the same file
            region_text = RegionHashes(box=(0, 0, 1000, 1000), hashes=tuple(cregions)).hex()
            rows.append(
                (
                    len(rows) + 1,
                    csha.upper() if rng.random() < 0.1 else csha,
                    f"{cp:016x}" if rng.random() < 0.97 else None,
                    f"{cd:016x}" if rng.random() < 0.9 else None,
                    f"{c:011x}" if rng.random() < 0.8 else None,
                    region_text if rng.random() < 0.8 else None,
                )
            )
    return rows[:count]


def _as_items(rows) -> list[HashedImage]:
    return [
        HashedImage.from_hex(key, sha256=sha, phash=p, dhash=d, colorhash=c, region_hashes=r)
        for key, sha, p, d, c, r in rows
    ]


def _as_columns(rows) -> HashArrays:
    keys, shas, phashes, dhashes, colours, regions = (list(column) for column in zip(*rows, strict=True))
    return HashArrays.from_stored(keys, shas, phashes, dhashes, colours, regions)


def _rule_pairs(items: list[HashedImage], params: ClusterParams) -> set[tuple[int, int]]:
    """Every pair the rules link, compared one pair at a time (no frame is trimmed in these rows)."""
    pairs = set()
    for a, b in combinations(items, 2):
        linked = bool(a.sha256) and a.sha256 == b.sha256
        if a.phash is not None and b.phash is not None:
            for flip_p, dhash_a in (
                (0, a.dhash),
                (PHASH_MIRROR_MASK, None if a.dhash is None else mirror_dhash(a.dhash)),
            ):
                if hamming(a.phash ^ flip_p, b.phash) > params.phash_threshold:
                    continue
                by_d = (
                    dhash_a is not None and b.dhash is not None and hamming(dhash_a, b.dhash) <= params.dhash_threshold
                )
                by_c = (
                    params.colorhash_threshold is not None
                    and a.colorhash is not None
                    and b.colorhash is not None
                    and hamming(a.colorhash, b.colorhash) <= params.colorhash_threshold
                    # Two colour hashes without colour never confirm.
                    and (
                        params.colorhash_without_colour
                        or colorhash_has_colour(a.colorhash)
                        or colorhash_has_colour(b.colorhash)
                    )
                )
                linked |= by_d or by_c
        for one, other in ((a, b), (b, a)):
            if one.region_phashes is None or other.region_phashes is None:
                continue
            assert one.region_dhashes is not None
            assert other.region_dhashes is not None
            for region in range(REGION_COUNT):
                linked |= (
                    hamming(one.region_phashes[0], other.region_phashes[region]) <= (params.region_phash_threshold or 0)
                    and hamming(one.region_dhashes[0], other.region_dhashes[region]) <= params.region_dhash_threshold
                )
        linked |= _overlay_rule(a, b, params)
        if linked:
            pairs.add((min(a.key, b.key), max(a.key, b.key)))
    return pairs


def _informative(dhash: int, params: ClusterParams) -> bool:
    ones = dhash.bit_count()
    return min(ones, 64 - ones) >= params.overlay_min_bits


def _overlay_rule(a: HashedImage, b: HashedImage, params: ClusterParams) -> bool:
    """The overlay rule on one pair: the trimmed wholes' dHashes near, and most same regions' dHashes near."""
    if params.overlay_dhash_threshold is None or params.region_phash_threshold is None:
        return False
    if a.region_dhashes is None or b.region_dhashes is None:
        return False
    whole_a, whole_b = a.region_dhashes[0], b.region_dhashes[0]
    if not (_informative(whole_a, params) and _informative(whole_b, params)):
        return False
    if hamming(whole_a, whole_b) > params.overlay_dhash_threshold:
        return False
    agree = sum(
        hamming(x, y) <= params.overlay_region_dhash_threshold
        for x, y in zip(a.region_dhashes, b.region_dhashes, strict=True)
    )
    return agree >= math.ceil(params.overlay_region_share * REGION_COUNT)


def _linked_pairs(clusterer: NearDuplicateClusterer) -> set[tuple[int, int]]:
    return {(a, b) for a, b, _ in clusterer.edges()}


def test_columns_cluster_like_items_and_like_the_rules():
    rows = planted_rows(11, 400)
    items = _as_items(rows)
    params = ClusterParams()
    by_items, by_columns = NearDuplicateClusterer(params), NearDuplicateClusterer(params)
    by_items.add(items)
    by_columns.add(_as_columns(rows))

    assert by_columns.edge_details() == by_items.edge_details()
    assert by_columns.clusters(include_singletons=True) == by_items.clusters(include_singletons=True)
    assert by_columns.labels() == by_items.labels()
    # The edges are every hash pair the rules link; identical files are linked without an edge.
    same_file = {
        (min(a.key, b.key), max(a.key, b.key)) for a, b in combinations(items, 2) if a.sha256 and a.sha256 == b.sha256
    }
    assert _linked_pairs(by_columns) | same_file == _rule_pairs(items, params)
    assert any(item.region_phashes is None for item in items), "some images have no region hashes"
    assert len(by_columns.clusters()) > 50
    # The rows hold pairs that only the new rules decide, both ways.
    overlay = {(min(a.key, b.key), max(a.key, b.key)) for a, b in combinations(items, 2) if _overlay_rule(a, b, params)}
    assert overlay
    assert overlay <= _linked_pairs(by_columns)
    assert all(overlay_match(a, b, params) == _overlay_rule(a, b, params) for a, b in combinations(items, 2))
    colourless = ClusterParams(colorhash_without_colour=True)
    assert _rule_pairs(items, colourless) - _rule_pairs(items, params), "greyscale colour hashes decide some pairs"
    without_overlay = ClusterParams(overlay_dhash_threshold=None)
    assert _rule_pairs(items, params) - _rule_pairs(items, without_overlay), "the overlay rule decides some pairs"
    # So do the other rule sets, on the column path.
    for other in (colourless, without_overlay):
        clusterer = NearDuplicateClusterer(other)
        clusterer.add(_as_columns(rows))
        assert _linked_pairs(clusterer) | same_file == _rule_pairs(items, other)


def test_columns_added_in_batches_equal_one_batch():
    rows = planted_rows(12, 600)
    once = NearDuplicateClusterer()
    once.add(_as_columns(rows))
    grown = NearDuplicateClusterer()
    columns = _as_columns(rows)
    order = np.random.default_rng(5).permutation(len(rows))
    for part in np.array_split(order, 4):
        grown.add(columns.take(part))
    assert grown.clusters(include_singletons=True) == once.clusters(include_singletons=True)
    assert grown.edge_details() == once.edge_details()


def test_candidates_from_columns_equal_those_from_items():
    rows = planted_rows(13, 800)
    # Every eighth row is new: copies of one picture fall on both sides.
    old_rows, new_rows = [r for at, r in enumerate(rows) if at % 8], rows[::8]
    params = ClusterParams()
    region_t = params.region_phash_threshold or 0
    old_columns, new_columns = _as_columns(old_rows), _as_columns(new_rows)
    old_items, new_items = _as_items(old_rows), _as_items(new_rows)
    by_phash = phash_candidates(old_columns, new_columns, params.phash_threshold, True)
    assert by_phash == phash_candidates(old_items, new_items, params.phash_threshold, True)
    assert by_phash == {
        old.key
        for old in old_items
        for new in new_items
        if old.phash is not None
        and new.phash is not None
        and min(hamming(old.phash, new.phash), hamming(old.phash ^ PHASH_MIRROR_MASK, new.phash))
        <= params.phash_threshold
    }
    assert by_phash
    found = region_candidates(old_columns, new_columns, region_t)
    assert found == region_candidates(old_items, new_items, region_t)
    # Exactly the old images with a query region near any region of a new one, or the reverse.
    expected = {
        old.key
        for old in old_items
        for new in new_items
        if old.region_phashes is not None
        and new.region_phashes is not None
        and any(
            hamming(old.region_phashes[0], new.region_phashes[region]) <= region_t
            or hamming(new.region_phashes[0], old.region_phashes[region]) <= region_t
            for region in range(REGION_COUNT)
        )
    }
    assert found == expected
    assert expected, "the rows hold region matches between old and new images"
    by_overlay = overlay_candidates(old_columns, new_columns, params)
    assert by_overlay == overlay_candidates(old_items, new_items, params)
    # Exactly the old images whose informative trimmed whole's dHash is near a new one's.
    assert by_overlay == {
        old.key
        for old in old_items
        for new in new_items
        if old.region_dhashes is not None
        and new.region_dhashes is not None
        and _informative(old.region_dhashes[0], params)
        and _informative(new.region_dhashes[0], params)
        and hamming(old.region_dhashes[0], new.region_dhashes[0]) <= (params.overlay_dhash_threshold or 0)
    }
    assert by_overlay - found - by_phash, "the rows hold overlay candidates that no other search finds"


def test_a_colour_column_tells_colour_like_each_value():
    rng = random.Random(15)
    values = [rng.getrandbits(6) << 36 for _ in range(200)]  # greyscale
    values += [rng.getrandbits(42) for _ in range(200)]
    values += [rng.getrandbits(128) for _ in range(50)] + [0, 1 << 36, 1 << 42, 1 << 64, (1 << 42) - 1]
    columns = HashArrays.from_items(HashedImage(key=at, colorhash=value) for at, value in enumerate(values))
    got = colorhash_column_has_colour(columns.colorhash).tolist()
    assert got == [colorhash_has_colour(value) for value in values]
    assert not all(got)
    assert any(got)


def test_an_item_converts_back_from_its_columns():
    rows = planted_rows(14, 50)
    columns = _as_columns(rows)
    assert [columns.item(row) for row in range(len(rows))] == _as_items(rows)


def test_a_large_index_takes_wider_substrings_with_the_same_answer():
    rng = np.random.default_rng(8)
    values = rng.integers(0, 1 << 63, size=200_000, dtype=np.uint64) * np.uint64(2) + rng.integers(
        0, 2, size=200_000, dtype=np.uint64
    )
    queries = values[rng.choice(len(values), 300, replace=False)].copy()
    # Near copies of the queries at every distance up to the radius and a little beyond.
    for distance in range(9):
        flips = np.zeros(len(queries), dtype=np.uint64)
        for _ in range(distance):
            flips |= np.uint64(1) << rng.integers(0, 64, size=len(queries), dtype=np.uint64)
        values = np.concatenate([values, queries ^ flips])
    index = HammingIndex(6)
    index.add_array(np.arange(len(values), dtype=np.int64), values)

    rows, positions, distances = index.search(queries)

    assert len(index_module._choose_layout(64, 6, len(values))) == 3
    assert len(index._layout) == 3
    expected = set()
    for row, query in enumerate(queries):
        found = np.bitwise_count(values ^ query)
        expected.update((row, int(j), int(found[j])) for j in np.flatnonzero(found <= 6))
    got = {(int(r), int(p), int(d)) for r, p, d in zip(rows, positions, distances, strict=True)}
    assert got == expected
    # A smaller index keeps its 16-bit substrings.
    assert len(index_module._choose_layout(64, 10, 100_000)) == 4
