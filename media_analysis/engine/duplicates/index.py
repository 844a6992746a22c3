"""Exact radius search in Hamming space over 64-bit values: :class:`HammingIndex`.

:class:`HammingIndex` is a multi-index hash (Norouzi et al., "Fast search in Hamming
space with multi-index hashing") over 64-bit values. The value is cut into ``m``
substrings of at most 16 bits (four for 64 bits). Generalised pigeonhole: give each
substring a radius ``r_i >= -1`` (-1 meaning "not probed") with
``sum(r_i + 1) >= t + 1``; if two values are within ``t`` bits, at least one substring
differs by at most its radius, otherwise the total distance would be at least
``t + 1``. For ``t = 10`` and four substrings the radii are (2, 2, 2, 1): a query
probes 3 * 137 + 17 = 428 buckets. Every candidate is then verified with an exact
popcount, so results are exact, never approximate.

The textbook variant (t + 1 substrings matched exactly) was not kept: with t = 10 the
substrings are 5-6 bits wide, each holds about 1/64 of a corpus, and a query over
100,000 uniform hashes would expect about 17,000 candidates to verify; with 16-bit
substrings, about 650. A BK-tree was measured too (bench/duplicates.py, docs/benchmarks/duplicates.md): at
this radius a query visits most of its nodes, a linear scan with Python overhead on
every node.
Buckets are counting-sorted arrays (``starts``/``order`` per substring) so that probing
and verifying a whole batch of queries is a handful of vectorised numpy operations.

An index of millions of values (a land's region pHashes) would hold dozens of values
per 16-bit bucket, every one verified at every probe: its tables are then built over
fewer, wider substrings (three of 21-22 bits for 64-bit values), which need more probes
but verify far fewer candidates. The layout is chosen with the tables, by the expected
cost of a query (:func:`_choose_layout`); answers are exact with any layout.

Incremental use: new values are appended; the per-substring tables are rebuilt lazily
by one O(n) sort per substring (timed in docs/benchmarks/duplicates.md), and
:meth:`HammingIndex.pairs` with ``since`` searches only the pairs that involve a new value.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

from media_analysis.engine.duplicates.hashes import HASH_BITS

# Substrings of at most 16 bits keep each bucket table at 65,536 entries: small enough
# to stay in cache, large enough for a corpus of a few hundred thousand hashes.
MAX_SUBSTRING_BITS = 16
# A larger index (a land's region hashes: millions of values) fills 16-bit buckets with
# dozens of values each, all verified for every probe: it may take fewer, wider
# substrings, up to this width, when that costs less (see _choose_layout).
MAX_WIDE_SUBSTRING_BITS = 22
# Work of verifying one candidate, against probing one bucket (random reads of two
# tables and of the values, a popcount, a filter).
_CANDIDATE_COST = 2.0
# Upper bound on the cells (query x probe, or query x stored value) materialised at once.
_BATCH_CELLS = 1 << 19


@lru_cache(maxsize=64)
def _flip_masks(width: int, radius: int) -> np.ndarray:
    """Every ``width``-bit value with at most ``radius`` bits set, fewest bits first."""
    masks = [0]
    for r in range(1, radius + 1):
        for bits in combinations(range(width), r):
            masks.append(sum(1 << b for b in bits))
    out = np.array(masks, dtype=np.intp)
    out.setflags(write=False)
    return out


def _probe_count(width: int, radius: int) -> int:
    return sum(comb(width, r) for r in range(radius + 1))


def _layout(bits: int, parts: int | None = None) -> list[tuple[int, int]]:
    """(shift, width) of each of ``parts`` substrings (default: the fewest of at most 16 bits).

    Widths differ by one bit at most.
    """
    parts = parts or -(-bits // MAX_SUBSTRING_BITS)
    base, extra = divmod(bits, parts)
    layout = []
    shift = 0
    for i in range(parts):
        width = base + (1 if i < extra else 0)
        layout.append((shift, width))
        shift += width
    return layout


def _radii(parts: int, threshold: int) -> list[int]:
    """Per-substring probe radius (-1: not probed) with sum(r + 1) == threshold + 1."""
    base, extra = divmod(threshold + 1, parts)
    return [base + (1 if i < extra else 0) - 1 for i in range(parts)]


def _search_cost(layout: list[tuple[int, int]], threshold: int, count: int) -> float:
    """Expected work of one query over ``count`` uniform values: buckets probed and candidates verified."""
    radii = _radii(len(layout), threshold)
    return sum(
        _probe_count(width, radius) * (1 + _CANDIDATE_COST * count / (1 << width))
        for (_, width), radius in zip(layout, radii, strict=True)
        if radius >= 0
    )


def _choose_layout(bits: int, threshold: int, count: int) -> list[tuple[int, int]]:
    """The cheapest layout for ``count`` values: substrings of at most 16 bits, or fewer and wider ones.

    Wider substrings mean more probes per query (their radii grow) but far fewer values
    per bucket; they pay only when the index holds many times 65,536 values.
    """
    fewest = -(-bits // MAX_WIDE_SUBSTRING_BITS)
    usual = -(-bits // MAX_SUBSTRING_BITS)
    layouts = [_layout(bits, parts) for parts in range(usual, fewest - 1, -1)]
    return min(layouts, key=lambda layout: _search_cost(layout, threshold, count))


class HammingIndex:
    """Exact radius search over integers of ``bits`` bits (at most 64) by multi-index hashing.

    ``threshold`` is the usual search radius. A query may ask for another radius: the
    probe radii are derived from it, and when probing would cost more than scanning the
    whole index (large radius, small index) the query falls back to a vectorised linear
    scan. Either way the answer is exact. Keys must be unique.
    """

    def __init__(self, threshold: int, bits: int = HASH_BITS) -> None:
        if not 1 <= bits <= HASH_BITS:
            raise ValueError(f"bits must be between 1 and {HASH_BITS}, not {bits}")
        if not 0 <= threshold <= bits:
            raise ValueError(f"threshold must be between 0 and {bits}, not {threshold}")
        self.threshold = threshold
        self.bits = bits
        self._layout = _layout(bits)  # chosen again with the tables, for the number of values
        self._keys = np.empty(0, dtype=np.int64)
        self._values = np.empty(0, dtype=np.uint64)
        self._pending_keys: list[int] = []
        self._pending_values: list[int] = []
        # Key -> position, built on demand: a land's region hashes are millions of values,
        # added as arrays, and only single additions and membership tests need the mapping.
        self._position_map: dict[int, int] | None = {}
        self._count = 0
        self._tables: list[tuple[np.ndarray, np.ndarray]] | None = None

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: object) -> bool:
        return key in self._positions()

    def _positions(self) -> dict[int, int]:
        if self._position_map is None:
            self._position_map = dict(zip(self.keys.tolist(), range(self._count), strict=True))
        return self._position_map

    def add(self, key: int, value: int) -> None:
        self.add_many([key], [value])

    def add_many(self, keys: Iterable[int], values: Iterable[int]) -> None:
        keys = list(keys)
        values = list(values)
        if len(keys) != len(values):
            raise ValueError("keys and values differ in length")
        if not keys:
            return
        limit = 1 << self.bits
        # Checked in bulk: a land's region hashes are a million values.
        positions = self._positions()
        if len(set(keys)) != len(keys) or not positions.keys().isdisjoint(keys):
            seen: set[int] = set()
            for key in keys:
                if key in positions or key in seen:
                    raise ValueError(f"key {key} is already indexed")
                seen.add(key)
        if min(values) < 0 or max(values) >= limit:
            bad = next((key, value) for key, value in zip(keys, values, strict=True) if not 0 <= value < limit)
            raise ValueError(f"value {bad[1]:#x} of key {bad[0]} does not fit in {self.bits} bits")
        positions.update(zip(keys, range(self._count, self._count + len(keys)), strict=True))
        self._count += len(keys)
        self._pending_keys.extend(keys)
        self._pending_values.extend(values)
        self._tables = None

    def add_array(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Like :meth:`add_many` for numpy arrays (int64 keys, uint64 values), without Python objects per value."""
        keys = np.asarray(keys, dtype=np.int64)
        values = np.asarray(values, dtype=np.uint64)
        if keys.shape != values.shape or keys.ndim != 1:
            raise ValueError("keys and values must be one-dimensional arrays of one length")
        if not len(keys):
            return
        if self.bits < 64 and int(values.max()) >= 1 << self.bits:
            raise ValueError(f"a value does not fit in {self.bits} bits")
        every = np.concatenate([self.keys, keys])
        # Keys given in increasing order after the stored ones (the usual case) are unique
        # without a sort.
        increasing = bool((np.diff(keys) > 0).all()) and (not len(self._keys) or keys[0] > self._keys.max())
        if not increasing and len(np.unique(every)) != len(every):
            raise ValueError("a key is already indexed, or given twice")
        self._keys, self._values = every, np.concatenate([self._values, values])
        self._count += len(keys)
        self._position_map = None
        self._tables = None

    @property
    def keys(self) -> np.ndarray:
        """Keys by position (insertion order)."""
        self._flush()
        return self._keys

    @property
    def values(self) -> np.ndarray:
        """Values by position (insertion order), as uint64."""
        self._flush()
        return self._values

    def query(self, value: int, threshold: int | None = None) -> list[tuple[int, int]]:
        """(key, distance) of every stored value within ``threshold`` bits, nearest first, then by key."""
        t = self._threshold(threshold)
        if not 0 <= value < (1 << self.bits):
            raise ValueError(f"value {value:#x} does not fit in {self.bits} bits")
        _, positions, distances = self._search(np.array([value], dtype=np.uint64), t)
        keys = self.keys[positions]
        order = np.lexsort((keys, distances))
        return [(int(keys[i]), int(distances[i])) for i in order]

    def search(self, values: np.ndarray, threshold: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (row of ``values``, stored position, distance) within ``threshold`` bits, sorted."""
        t = self._threshold(threshold)
        values = np.asarray(values, dtype=np.uint64)
        return self._search(values, t)

    def pairs(
        self, threshold: int | None = None, since: int = 0, xor: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every stored pair within ``threshold`` bits having a member at position >= ``since``, once.

        Returns ``(i, j, distance)`` arrays of positions with ``i > j``, sorted by (i, j).
        ``since=0`` is the full self-join; ``since=len(index)`` before a batch of
        additions gives exactly the pairs that batch brought. With ``xor`` the distance
        is the one between ``value_i ^ xor`` and ``value_j``, a relation that is still
        symmetric, so each pair is still reported once.
        """
        t = self._threshold(threshold)
        values = self.values
        since = max(0, since)
        if since >= len(values):
            empty = np.empty(0, dtype=np.intp)
            return empty, empty, empty
        queries = values[since:] ^ np.uint64(xor) if xor else values[since:]
        return self._search(queries, t, offset=since)

    # -- internals ----------------------------------------------------------------

    def _threshold(self, threshold: int | None) -> int:
        t = self.threshold if threshold is None else threshold
        if not 0 <= t <= self.bits:
            raise ValueError(f"threshold must be between 0 and {self.bits}, not {t}")
        return t

    def _flush(self) -> None:
        if self._pending_keys:
            self._keys = np.concatenate([self._keys, np.array(self._pending_keys, dtype=np.int64)])
            self._values = np.concatenate([self._values, np.array(self._pending_values, dtype=np.uint64)])
            self._pending_keys.clear()
            self._pending_values.clear()

    def _build_tables(self) -> list[tuple[np.ndarray, np.ndarray]]:
        if self._tables is None:
            values = self.values
            self._layout = _choose_layout(self.bits, self.threshold, len(values))
            tables = []
            for shift, width in self._layout:
                sub = (values >> np.uint64(shift)) & np.uint64((1 << width) - 1)
                order = _bucket_order(sub, width)
                starts = np.zeros((1 << width) + 1, dtype=np.intp)
                np.cumsum(np.bincount(sub.astype(np.intp), minlength=1 << width), out=starts[1:])
                tables.append((order, starts))
            self._tables = tables
        return self._tables

    def _search(
        self, queries: np.ndarray, t: int, offset: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, position, distance) of every match, deduplicated and sorted.

        With ``offset`` set (self-join), query row ``q`` is the stored value at
        ``offset + q``, each pair is reported once, and rows are stored positions too,
        the larger of the two first.
        """
        n = len(self.values)
        empty = np.empty(0, dtype=np.intp)
        if n == 0 or len(queries) == 0:
            return empty, empty, empty
        if self._tables is None:
            self._layout = _choose_layout(self.bits, self.threshold, n)
        radii = _radii(len(self._layout), t)
        probes = sum(_probe_count(w, r) for (_, w), r in zip(self._layout, radii, strict=True) if r >= 0)
        # Probing costs about one operation per probed bucket, scanning one per stored value.
        if probes >= n:
            found = self._scan(queries, t, offset)
        else:
            found = self._probe(queries, t, radii, self._build_tables(), offset)
        if not found:
            return empty, empty, empty
        rows, positions, distances = (np.concatenate(parts) for parts in zip(*found, strict=True))
        if offset is not None:
            # Self-join: report stored positions, the later one first.
            rows = rows + offset
            rows, positions = np.maximum(rows, positions), np.minimum(rows, positions)
        # A pair close in several substrings is found once per substring.
        codes = rows.astype(np.int64) * n + positions
        codes, first = np.unique(codes, return_index=True)
        return rows[first], positions[first], distances[first]

    def _scan(self, queries: np.ndarray, t: int, offset: int | None) -> list[tuple[np.ndarray, ...]]:
        values = self.values
        n = len(values)
        found: list[tuple[np.ndarray, ...]] = []
        step = max(1, _BATCH_CELLS // n)
        for start in range(0, len(queries), step):
            block = queries[start : start + step]
            dist = np.bitwise_count(block[:, None] ^ values[None, :])
            hit = dist <= t
            if offset is not None:
                # Lower triangle only: position < the query's own position.
                own = np.arange(start, start + len(block))[:, None] + offset
                hit &= np.arange(n)[None, :] < own
            rows, positions = np.nonzero(hit)
            found.append((rows + start, positions, dist[rows, positions].astype(np.intp)))
        return found

    def _probe(
        self,
        queries: np.ndarray,
        t: int,
        radii: list[int],
        tables: list[tuple[np.ndarray, np.ndarray]],
        offset: int | None,
    ) -> list[tuple[np.ndarray, ...]]:
        values = self.values
        n = len(values)
        found: list[tuple[np.ndarray, ...]] = []
        for (shift, width), radius, (order, starts) in zip(self._layout, radii, tables, strict=True):
            if radius < 0:
                continue
            masks = _flip_masks(width, radius)
            expected_per_cell = 1 + n / (1 << width)
            step = max(1, int(_BATCH_CELLS / (len(masks) * expected_per_cell)))
            low_bits = np.uint64((1 << width) - 1)
            subs = ((queries >> np.uint64(shift)) & low_bits).astype(np.intp)
            if offset is not None:
                own_subs = ((values[offset:] >> np.uint64(shift)) & low_bits).astype(np.intp)
            for start in range(0, len(queries), step):
                block = subs[start : start + step]
                cells = block[:, None] ^ masks[None, :]
                cell_rows = np.broadcast_to(np.arange(start, start + len(block))[:, None], cells.shape)
                if offset is None:
                    groups = [(cells.ravel(), cell_rows.ravel(), None)]
                else:
                    groups = self._self_join_groups(cells, cell_rows, own_subs[start : start + step], offset)
                for group_cells, group_rows, limit in groups:
                    rows, candidates = _expand(group_cells, group_rows, order, starts)
                    if limit is not None:
                        keep = candidates < limit(rows)
                        rows, candidates = rows[keep], candidates[keep]
                    dist = np.bitwise_count(queries[rows] ^ values[candidates])
                    keep = dist <= t
                    found.append((rows[keep], candidates[keep], dist[keep].astype(np.intp)))
        return found

    @staticmethod
    def _self_join_groups(cells: np.ndarray, cell_rows: np.ndarray, own: np.ndarray, offset: int) -> list:
        """Split a self-join's probed cells so that each pair is expanded from one side only.

        Query row ``q`` is stored position ``p = offset + q``, with substring ``own``. A
        pair (p, j) probed through a cell holding j's substring is seen from p when p's
        own substring is below j's, from j when above, and from the later position when
        equal; pairs with an old value (j < offset, never a query) are always kept.
        Halving the buckets expanded matters: expansion is the bulk of the work.
        """
        own = own[:, None]
        above = cells > own
        same = cells == own
        groups = [
            (cells[above], cell_rows[above], None),
            (cells[same], cell_rows[same], lambda rows: rows + offset),
        ]
        if offset > 0:
            below = ~(above | same)
            groups.append((cells[below], cell_rows[below], lambda rows: offset))
        return groups


def _bucket_order(sub: np.ndarray, width: int) -> np.ndarray:
    """Positions sorted by substring value (a counting sort's order)."""
    # A stable sort of 16-bit keys is a radix sort in numpy: linear, several times faster
    # than sorting the same values as machine integers. Wider keys take two such passes,
    # low half then high half (a least-significant-digit radix sort).
    if width <= 16:
        return np.argsort(sub.astype(np.uint16), kind="stable")
    order = np.argsort((sub & np.uint64(0xFFFF)).astype(np.uint16), kind="stable")
    high = (sub[order] >> np.uint64(16)).astype(np.uint16)
    return order[np.argsort(high, kind="stable")]


def _expand(
    cells: np.ndarray, cell_rows: np.ndarray, order: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(query row, stored position) for every value in the probed buckets."""
    lo = starts[cells]
    counts = starts[cells + 1] - lo
    total = int(counts.sum())
    if total == 0:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty
    first = np.cumsum(counts) - counts
    rows = np.repeat(cell_rows, counts)
    positions = order[np.arange(total) + np.repeat(lo - first, counts)]
    return rows, positions
