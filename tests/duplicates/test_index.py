"""HammingIndex gives exactly what a brute-force search gives."""

from __future__ import annotations

import random

import numpy as np
import pytest

from media_analysis.engine.duplicates.hashes import parse_hex_hash
from media_analysis.engine.duplicates.index import HammingIndex


def corpus(seed: int, n: int, bits: int = 64) -> list[int]:
    """Random values plus planted near copies, so that every radius has matches to find."""
    rng = random.Random(seed)
    values = [rng.getrandbits(bits) for _ in range(n)]
    for _ in range(n // 4):
        value = rng.choice(values)
        for _ in range(rng.randint(0, 14)):
            value ^= 1 << rng.randrange(bits)
        values.append(value)
    return values


def brute_pairs(values: list[int], threshold: int, since: int = 0, xor: int = 0) -> set[tuple[int, int, int]]:
    """Every (i, j, distance) with j < i and i >= since, by comparing all pairs."""
    array = np.array(values, dtype=np.uint64)
    found: set[tuple[int, int, int]] = set()
    for i in range(max(since, 1), len(values)):
        distances = np.bitwise_count((array[i] ^ np.uint64(xor)) ^ array[:i])
        found.update((i, int(j), int(distances[j])) for j in np.flatnonzero(distances <= threshold))
    return found


def as_set(pairs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> set[tuple[int, int, int]]:
    return {(int(i), int(j), int(d)) for i, j, d in zip(*pairs, strict=True)}


# Up to 14 the index probes its tables (at most 2,228 probes for 3,750 values); at 20 it scans.
@pytest.mark.parametrize("threshold", [0, 1, 3, 6, 10, 14, 20])
def test_self_join_equals_brute_force(threshold):
    values = corpus(threshold, 3000)
    index = HammingIndex(10)
    index.add_many(range(len(values)), values)

    found = index.pairs(threshold)

    expected = brute_pairs(values, threshold)
    assert as_set(found) == expected
    assert len(found[0]) == len(expected), "each pair is reported once"
    assert threshold < 6 or expected, "the corpus has matches at this radius"


@pytest.mark.parametrize("threshold", [0, 2, 5, 10, 13])
def test_query_equals_brute_force(threshold):
    values = corpus(100 + threshold, 2000)
    index = HammingIndex(threshold)
    for key, value in enumerate(values):
        index.add(key + 1000, value)
    rng = random.Random(threshold)

    for probe in [*rng.sample(values, 25), *(rng.getrandbits(64) for _ in range(5))]:
        expected = sorted(
            ((key + 1000, d) for key, v in enumerate(values) if (d := (v ^ probe).bit_count()) <= threshold),
            key=lambda hit: (hit[1], hit[0]),
        )
        assert index.query(probe) == expected


def test_small_index_scans_linearly_with_the_same_answer():
    values = corpus(7, 40)
    index = HammingIndex(10)
    index.add_many(range(len(values)), values)

    # 428 probes per query exceed 50 stored values: the scan path answers.
    assert as_set(index.pairs()) == brute_pairs(values, 10)
    assert index.query(values[3], threshold=30) == sorted(
        ((k, d) for k, v in enumerate(values) if (d := (v ^ values[3]).bit_count()) <= 30),
        key=lambda hit: (hit[1], hit[0]),
    )


def test_pairs_since_gives_exactly_the_pairs_a_batch_brought():
    values = corpus(11, 1500)
    index = HammingIndex(10)
    index.add_many(range(1000), values[:1000])
    before = as_set(index.pairs())
    index.add_many(range(1000, len(values)), values[1000:])

    new = as_set(index.pairs(since=1000))

    assert new == brute_pairs(values, 10, since=1000)
    assert before | new == brute_pairs(values, 10)
    assert not before & new


def test_pairs_with_xor_mask_equal_brute_force():
    values = corpus(13, 1500)
    mask = random.Random(13).getrandbits(64)
    # Plant values whose masked copy is close to another value.
    values += [v ^ mask ^ (1 << (k % 64)) for k, v in enumerate(values[:100])]
    index = HammingIndex(10)
    index.add_many(range(len(values)), values)

    assert as_set(index.pairs(xor=mask)) == brute_pairs(values, 10, xor=mask)
    assert as_set(index.pairs(since=1200, xor=mask)) == brute_pairs(values, 10, since=1200, xor=mask)


def test_narrower_values_use_their_own_width():
    values = corpus(17, 1500, bits=42)
    index = HammingIndex(6, bits=42)
    index.add_many(range(len(values)), values)

    assert as_set(index.pairs()) == brute_pairs(values, 6)
    with pytest.raises(ValueError, match="42 bits"):
        index.add(99_999, 1 << 42)


def test_duplicate_keys_and_bad_thresholds_are_refused():
    index = HammingIndex(10)
    index.add(1, 5)
    with pytest.raises(ValueError, match="already indexed"):
        index.add(1, 6)
    with pytest.raises(ValueError, match="threshold"):
        index.query(5, threshold=65)
    with pytest.raises(ValueError, match="threshold"):
        HammingIndex(-1)
    assert len(index) == 1
    assert 1 in index


def test_empty_index_answers_nothing():
    index = HammingIndex(10)
    assert index.query(123) == []
    assert all(len(part) == 0 for part in index.pairs())


@pytest.mark.parametrize(
    ("text", "value"),
    [("9db8c2c7445dbb24", 0x9DB8C2C7445DBB24), (" 07C40000000 ", 0x07C40000000), ("", None), (None, None)],
)
def test_parse_hex_hash(text, value):
    assert parse_hex_hash(text) == value


@pytest.mark.parametrize("text", ["xyz", "-12", "0x12", "12 34"])
def test_parse_hex_hash_refuses_non_hex(text):
    with pytest.raises(ValueError, match="hexadecimal"):
        parse_hex_hash(text)


def test_arrays_added_in_bulk_search_like_single_additions():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 2**63, size=2_000, dtype=np.uint64) | rng.integers(0, 2, size=2_000, dtype=np.uint64) << 63
    keys = np.arange(0, 4_000, 2, dtype=np.int64)
    bulk, single = HammingIndex(6), HammingIndex(6)
    bulk.add_array(keys[:1_000], values[:1_000])
    bulk.add_array(keys[1_000:], values[1_000:])
    single.add_many(keys.tolist(), values.tolist())
    queries = values[::50] ^ np.uint64(0b1011)
    for got, expected in zip(bulk.search(queries), single.search(queries), strict=True):
        assert np.array_equal(got, expected)
    assert len(bulk) == 2_000
    assert 4 in bulk
    assert 5 not in bulk
    bulk.add(5, 7)  # single additions still work after bulk ones
    assert bulk.query(7) == [(5, 0)]


def test_a_key_added_twice_in_bulk_is_refused():
    index = HammingIndex(4)
    index.add_array(np.array([1, 2]), np.array([10, 20], dtype=np.uint64))
    with pytest.raises(ValueError, match="already indexed"):
        index.add_array(np.array([3, 1]), np.array([30, 40], dtype=np.uint64))
    with pytest.raises(ValueError, match="already indexed"):
        index.add_many([2], [50])
    assert len(index) == 2
