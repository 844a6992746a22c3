"""Near-duplicate clustering of images from their hashes (pure Python + numpy, no Django).

Two images are *the same picture* when:

* their SHA-256 digests are equal (same file): always, whatever else is said; or
* their pHash values are within ``phash_threshold`` bits (Hamming distance, 64-bit
  hashes) AND the match is confirmed by a second, differently built hash: the dHash
  within ``dhash_threshold`` bits, or the colour hash within ``colorhash_threshold``
  bits. pHash alone has coincidences between unrelated smooth pictures; asking a
  second opinion removes most of them. The colour hash (``imagehash.colorhash``) is a
  histogram code, not a Hamming-friendly fingerprint, but its distance is defined here
  as the Hamming distance over its bits all the same: close histograms share most bits.
  It is a weak witness between pictures of similar palette (two crops of one photo
  are within 6 bits half of the time), hence its strict default of 2 bits; the dHash
  is the main one (docs/benchmarks/duplicates.md has the measures behind both).
  A pair where neither dHash nor colour hash is known on both sides is not linked.

Clusters are the connected components of that relation (single linkage), computed
with a union-find, optionally under manual constraints (see below).

Which edits this targets: what pHash survives. Resizing, JPEG re-encoding, small
crops (a few per cent), greyscale conversion (pHash and dHash are computed on the
luminance, so the dHash confirms even though the colour hash changes) and small
overlays such as a caption or a watermark. Left-right mirroring too, although pHash
and dHash change completely under a flip: both can be predicted from the original's
hash (:func:`mirror_phash`, approximate; :func:`mirror_dhash`, exact but for ties),
so each image is also searched as its own mirror image and confirmed the same way
(``ClusterParams.mirrors``, on by default; it doubles the search time). Upside-down
flips, rotations, large crops and collages are out of scope. Near-flat pictures (a
sky, a blurred background with a detail in one corner) have unstable hashes and are
where false matches concentrate.

Finding candidate pairs without comparing all pairs
---------------------------------------------------
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
substrings, about 650. A BK-tree was measured too (bench/duplicates.py): at radius 10
over 20,000 random 64-bit hashes a query visits about three quarters of the nodes, a
linear scan with Python overhead on every node.
Buckets are counting-sorted arrays (``starts``/``order`` per substring) so that probing
and verifying a whole batch of queries is a handful of vectorised numpy operations.

Incremental use: new values are appended; the per-substring tables are rebuilt lazily
by one O(n) sort per substring (about 25 ms of CPU for 100,000 values) and only the pairs that
involve a new value are searched and verified. :class:`NearDuplicateClusterer` keeps
every confirmed edge, so adding images never recomputes the old pairs.

Manual corrections
------------------
Researchers fix the clustering with two kinds of links between media keys, which the
caller stores and passes again whenever a land is reclustered from scratch:

* must-link (a "merge"): ``a`` and ``b`` are in the same cluster, whatever the hashes say.
* cannot-link (a "split"): ``a`` and ``b`` are never in the same cluster. Splitting a
  cluster into groups ``A`` and ``B`` is a cannot-link for every pair of ``A x B``
  (:func:`split_links`), so the split holds however the two groups grow later.

Semantics, in this order: (1) hard links are applied first, without condition:
SHA-256-identical files and must-links. A cannot-link whose two keys end up joined by
hard links is ignored (reported by :meth:`NearDuplicateClusterer.ignored_cannot_links`):
in particular a cannot-link between two identical files is ignored, identical bytes
are the same picture. (2) Confirmed similarity edges are then applied in increasing
pHash distance (ties broken by keys), and an edge is skipped when it would put a
cannot-linked pair into one cluster. The strongest evidence therefore wins: an image
close to both sides of a split joins the side it is closest to. The result depends on
the set of items, edges and constraints only, never on the order in which items were
added. Giving the same pair as must- and cannot-link keeps the last one given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

HASH_BITS = 64
# Substrings of at most 16 bits keep each bucket table at 65,536 entries: small enough
# to stay in cache, large enough for a corpus of a few hundred thousand hashes.
MAX_SUBSTRING_BITS = 16
# Upper bound on the cells (query x probe, or query x stored value) materialised at once.
_BATCH_CELLS = 1 << 19
_U64 = (1 << 64) - 1
_HEX = re.compile(r"\s*([0-9a-fA-F]+)\s*")


def parse_hex_hash(value: str | None) -> int | None:
    """Hex string as stored on a media row (``"9db8c2c7445dbb24"``) to an int; None or blank is None.

    Raises ValueError on text that is not hexadecimal (signs, ``0x`` prefixes and inner
    spaces included, which ``int(value, 16)`` would accept).
    """
    if value is None:
        return None
    match = _HEX.fullmatch(value)
    if match is None:
        if value.strip():
            raise ValueError(f"not a hexadecimal hash: {value!r}")
        return None
    return int(match.group(1), 16)


@dataclass(frozen=True)
class HashedImage:
    """What clustering needs to know about one image; ``key`` is the media id."""

    key: int
    sha256: str | None = None
    phash: int | None = None
    dhash: int | None = None
    colorhash: int | None = None

    @classmethod
    def from_hex(
        cls,
        key: int,
        sha256: str | None = None,
        phash: str | None = None,
        dhash: str | None = None,
        colorhash: str | None = None,
    ) -> HashedImage:
        """Build from the hex strings stored on a media row."""
        return cls(
            key=key,
            sha256=sha256.strip().lower() if sha256 and sha256.strip() else None,
            phash=parse_hex_hash(phash),
            dhash=parse_hex_hash(dhash),
            colorhash=parse_hex_hash(colorhash),
        )


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


# imagehash.phash (hash_size 8) stores DCT coefficient (row u, column v) at bit
# 63 - (8u + v). A left-right flip negates the coefficients of odd horizontal
# frequency v; the median they are compared to stays close to zero, so those bits
# mostly flip and the others mostly stay.
PHASH_MIRROR_MASK = sum(1 << (63 - (8 * u + v)) for u in range(8) for v in range(1, 8, 2))
# imagehash.dhash (hash_size 8): one byte per row, bit x is "pixel x+1 brighter than
# pixel x". In a flipped row the comparisons come in reverse order and reversed
# direction: reverse the bits of each byte and invert them (exact but for ties).
_DHASH_MIRROR_BYTES = np.array([int(f"{b:08b}"[::-1], 2) ^ 0xFF for b in range(256)], dtype=np.uint8)


def mirror_phash(value: int) -> int:
    """Approximate pHash of the left-right mirrored picture."""
    return value ^ PHASH_MIRROR_MASK


def mirror_dhash(value: int) -> int:
    """dHash of the left-right mirrored picture (exact unless neighbouring pixels tie)."""
    return int(_mirror_dhashes(np.array([value], dtype=np.uint64))[0])


def _mirror_dhashes(values: np.ndarray) -> np.ndarray:
    return _DHASH_MIRROR_BYTES[values.view(np.uint8)].view(np.uint64)


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


def _layout(bits: int) -> list[tuple[int, int]]:
    """(shift, width) of each substring; widths differ by at most one bit."""
    parts = -(-bits // MAX_SUBSTRING_BITS)
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
        self._layout = _layout(bits)
        self._keys = np.empty(0, dtype=np.int64)
        self._values = np.empty(0, dtype=np.uint64)
        self._pending_keys: list[int] = []
        self._pending_values: list[int] = []
        self._positions: dict[int, int] = {}
        self._tables: list[tuple[np.ndarray, np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self._positions)

    def __contains__(self, key: object) -> bool:
        return key in self._positions

    def add(self, key: int, value: int) -> None:
        self.add_many([key], [value])

    def add_many(self, keys: Iterable[int], values: Iterable[int]) -> None:
        keys = list(keys)
        values = list(values)
        if len(keys) != len(values):
            raise ValueError("keys and values differ in length")
        limit = 1 << self.bits
        for key, value in zip(keys, values, strict=True):
            if key in self._positions:
                raise ValueError(f"key {key} is already indexed")
            if not 0 <= value < limit:
                raise ValueError(f"value {value:#x} of key {key} does not fit in {self.bits} bits")
            self._positions[key] = len(self._positions)
        self._pending_keys.extend(keys)
        self._pending_values.extend(values)
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
            tables = []
            for shift, width in self._layout:
                sub = ((values >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.intp)
                order = np.argsort(sub, kind="stable")
                starts = np.zeros((1 << width) + 1, dtype=np.intp)
                np.cumsum(np.bincount(sub, minlength=1 << width), out=starts[1:])
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
        radii = _radii(len(self._layout), t)
        probes = sum(_probe_count(w, r) for (_, w), r in zip(self._layout, radii, strict=True) if r >= 0)
        # Probing costs about one operation per probed bucket, scanning one per stored value.
        found = self._scan(queries, t, offset) if probes >= n else self._probe(queries, t, radii, offset)
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
        found = []
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

    def _probe(self, queries: np.ndarray, t: int, radii: list[int], offset: int | None) -> list[tuple[np.ndarray, ...]]:
        values = self.values
        n = len(values)
        found = []
        for (shift, width), radius, (order, starts) in zip(self._layout, radii, self._build_tables(), strict=True):
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


@dataclass(frozen=True)
class ClusterParams:
    """Thresholds in bits. ``phash_threshold`` is ``settings.MEDIA_ANALYSIS_DUPLICATE_THRESHOLD``."""

    phash_threshold: int = 10
    dhash_threshold: int = 12
    # None: the colour hash never confirms (dHash alone does).
    colorhash_threshold: int | None = 2
    # Also link left-right mirrored copies, found through mirror_phash / mirror_dhash.
    mirrors: bool = True


def split_links(group_a: Iterable[int], group_b: Iterable[int]) -> list[tuple[int, int]]:
    """Cannot-links that split a cluster into ``group_a`` and ``group_b``: every cross pair."""
    group_b = list(group_b)
    return [(a, b) for a in group_a for b in group_b if a != b]


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a <= b else (b, a)


class NearDuplicateClusterer:
    """Incremental near-duplicate clustering of :class:`HashedImage` items (see the module doc).

    ``add`` can be called any number of times: the similarity search runs only for the
    new items against everything already added, and the final clusters equal those of a
    single ``add`` of all the items.
    """

    def __init__(self, params: ClusterParams | None = None) -> None:
        self.params = params or ClusterParams()
        p = self.params
        if not 0 <= p.phash_threshold <= HASH_BITS or not 0 <= p.dhash_threshold <= HASH_BITS:
            raise ValueError("pHash and dHash thresholds must be between 0 and 64")
        if p.colorhash_threshold is not None and not 0 <= p.colorhash_threshold <= 128:
            raise ValueError("the colour hash threshold must be None or between 0 and 128")
        self._index = HammingIndex(p.phash_threshold)
        self._node_of: dict[int, int] = {}
        self._key_of: list[int] = []
        self._parent: list[int] = []
        self._size: list[int] = []
        self._min_key: list[int] = []
        self._sha_node: dict[str, int] = {}
        self._sha_links: list[tuple[int, int]] = []
        # By index position (items that have a pHash): node, dHash, colour hash halves, presence.
        self._pos_node = np.empty(0, dtype=np.intp)
        self._dhash = np.empty(0, dtype=np.uint64)
        self._has_dhash = np.empty(0, dtype=bool)
        self._color_lo = np.empty(0, dtype=np.uint64)
        self._color_hi = np.empty(0, dtype=np.uint64)
        self._has_color = np.empty(0, dtype=bool)
        # Confirmed edges as node ids, in chunks: (a, b, pHash distance, mirrored).
        self._edge_chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._must: set[tuple[int, int]] = set()
        self._cannot: set[tuple[int, int]] = set()
        self._ignored: set[tuple[int, int]] = set()
        self._stale = False

    def __len__(self) -> int:
        return len(self._key_of)

    def __contains__(self, key: object) -> bool:
        return key in self._node_of

    # -- building -------------------------------------------------------------------

    def add(self, items: Iterable[HashedImage]) -> None:
        items = list(items)
        seen: set[int] = set()
        for item in items:
            if item.key in self._node_of or item.key in seen:
                raise ValueError(f"key {item.key} was already added")
            seen.add(item.key)
            for name, limit in (("phash", 64), ("dhash", 64), ("colorhash", 128)):
                value = getattr(item, name)
                if value is not None and not 0 <= value < (1 << limit):
                    raise ValueError(f"{name} of key {item.key} does not fit in {limit} bits")

        first_link = len(self._sha_links)
        first_pos = len(self._index)
        hashed: list[HashedImage] = []
        nodes: list[int] = []
        for item in items:
            node = len(self._key_of)
            self._node_of[item.key] = node
            self._key_of.append(item.key)
            self._parent.append(node)
            self._size.append(1)
            self._min_key.append(item.key)
            if item.sha256:
                sha = item.sha256.strip().lower()
                if sha in self._sha_node:
                    self._sha_links.append((self._sha_node[sha], node))
                else:
                    self._sha_node[sha] = node
            if item.phash is not None:
                hashed.append(item)
                nodes.append(node)

        if hashed:
            self._index.add_many([it.key for it in hashed], [it.phash for it in hashed])
            self._append_confirmations(hashed, nodes)
            a, b, dist, mirrored = self._new_edges(first_pos)
            self._edge_chunks.append((a, b, dist, mirrored))
            new_edges = (a, b)
        else:
            new_edges = (np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp))

        if self._cannot:
            # The greedy pass under cannot-links depends on the global edge order.
            self._stale = True
        elif not self._stale:
            for a_node, b_node in self._sha_links[first_link:]:
                self._union(a_node, b_node)
            for a_node, b_node in zip(new_edges[0].tolist(), new_edges[1].tolist(), strict=True):
                self._union(a_node, b_node)
            self._apply_must_links()

    def apply_constraints(
        self, must_link: Iterable[tuple[int, int]] = (), cannot_link: Iterable[tuple[int, int]] = ()
    ) -> None:
        """Add manual links (keys); they may name keys not added yet and apply once both are present."""
        for a, b in must_link:
            if a == b:
                continue
            pair = _pair(a, b)
            self._cannot.discard(pair)
            self._must.add(pair)
        for a, b in cannot_link:
            if a == b:
                continue
            pair = _pair(a, b)
            self._must.discard(pair)
            self._cannot.add(pair)
        if self._cannot:
            self._stale = True
        elif not self._stale:
            self._apply_must_links()

    @property
    def constraints(self) -> tuple[frozenset[tuple[int, int]], frozenset[tuple[int, int]]]:
        """(must-links, cannot-links) as given, each pair ordered (small key, large key)."""
        return frozenset(self._must), frozenset(self._cannot)

    # -- reading --------------------------------------------------------------------

    def clusters(self, include_singletons: bool = False) -> list[list[int]]:
        """Keys of each cluster, sorted; clusters sorted by their smallest key."""
        self._refresh()
        members: dict[int, list[int]] = {}
        for node, key in enumerate(self._key_of):
            members.setdefault(self._find(node), []).append(key)
        groups = [sorted(keys) for keys in members.values() if include_singletons or len(keys) > 1]
        groups.sort(key=lambda keys: keys[0])
        return groups

    def cluster_of(self, key: int) -> int:
        """Stable label of the key's cluster: its smallest key. KeyError for an unknown key."""
        self._refresh()
        return self._min_key[self._find(self._node_of[key])]

    def labels(self) -> dict[int, int]:
        """Every key to its cluster label (singletons are labelled by their own key)."""
        self._refresh()
        return {key: self._min_key[self._find(node)] for node, key in enumerate(self._key_of)}

    def edges(self) -> list[tuple[int, int, int]]:
        """Confirmed near-duplicate pairs ``(a, b, phash distance)`` with ``a < b``, sorted.

        For a mirrored pair the distance is the one to the mirrored pHash. SHA-256-identical
        pairs are not listed unless their hashes are close too. An edge between two
        clusters is one a cannot-link refused.
        """
        return [edge[:3] for edge in self.edge_details()]

    def edge_details(self) -> list[tuple[int, int, int, bool]]:
        """Like :meth:`edges`, with a fourth field telling whether the pair is a mirrored copy."""
        a, b, dist, mirrored = self._all_edges()
        keys = np.array(self._key_of, dtype=np.int64)
        ka, kb = keys[a], keys[b]
        lo, hi = np.minimum(ka, kb), np.maximum(ka, kb)
        order = np.lexsort((hi, lo))
        return [(int(lo[i]), int(hi[i]), int(dist[i]), bool(mirrored[i])) for i in order]

    def ignored_cannot_links(self) -> list[tuple[int, int]]:
        """Cannot-links overridden by hard links (identical files, must-links), sorted."""
        self._refresh()
        return sorted(self._ignored)

    # -- internals ------------------------------------------------------------------

    def _append_confirmations(self, hashed: list[HashedImage], nodes: list[int]) -> None:
        dh = [it.dhash if it.dhash is not None else 0 for it in hashed]
        ch = [it.colorhash if it.colorhash is not None else 0 for it in hashed]
        self._pos_node = np.concatenate([self._pos_node, np.array(nodes, dtype=np.intp)])
        self._dhash = np.concatenate([self._dhash, np.array(dh, dtype=np.uint64)])
        self._has_dhash = np.concatenate([self._has_dhash, [it.dhash is not None for it in hashed]])
        self._color_lo = np.concatenate([self._color_lo, np.array([c & _U64 for c in ch], dtype=np.uint64)])
        self._color_hi = np.concatenate([self._color_hi, np.array([c >> 64 for c in ch], dtype=np.uint64)])
        self._has_color = np.concatenate([self._has_color, [it.colorhash is not None for it in hashed]])

    def _new_edges(self, since: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Confirmed pairs involving an index position >= ``since``, as node ids."""
        i, j, dist = self._index.pairs(since=since)
        keep = self._confirmed(i, j, mirrored=False)
        i, j, dist = i[keep], j[keep], dist[keep]
        mirrored = np.zeros(len(i), dtype=bool)
        if self.params.mirrors:
            mi, mj, mdist = self._index.pairs(since=since, xor=PHASH_MIRROR_MASK)
            keep = self._confirmed(mi, mj, mirrored=True)
            # A pair that matches both ways keeps its direct match (listed first, kept by unique).
            i = np.concatenate([i, mi[keep]])
            j = np.concatenate([j, mj[keep]])
            dist = np.concatenate([dist, mdist[keep]])
            mirrored = np.concatenate([mirrored, np.ones(int(keep.sum()), dtype=bool)])
            _, first = np.unique(i.astype(np.int64) * len(self._index) + j, return_index=True)
            i, j, dist, mirrored = i[first], j[first], dist[first], mirrored[first]
        return self._pos_node[i], self._pos_node[j], dist, mirrored

    def _confirmed(self, i: np.ndarray, j: np.ndarray, mirrored: bool) -> np.ndarray:
        p = self.params
        dhash_i = _mirror_dhashes(self._dhash[i]) if mirrored else self._dhash[i]
        by_dhash = (
            self._has_dhash[i] & self._has_dhash[j] & (np.bitwise_count(dhash_i ^ self._dhash[j]) <= p.dhash_threshold)
        )
        if p.colorhash_threshold is None:
            return by_dhash
        color_distance = np.bitwise_count(self._color_lo[i] ^ self._color_lo[j]).astype(np.intp)
        color_distance += np.bitwise_count(self._color_hi[i] ^ self._color_hi[j])
        by_color = self._has_color[i] & self._has_color[j] & (color_distance <= p.colorhash_threshold)
        return by_dhash | by_color

    def _all_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not self._edge_chunks:
            empty = np.empty(0, dtype=np.intp)
            return empty, empty, empty, np.empty(0, dtype=bool)
        if len(self._edge_chunks) > 1:
            merged = tuple(np.concatenate(parts) for parts in zip(*self._edge_chunks, strict=True))
            self._edge_chunks = [merged]
        return self._edge_chunks[0]

    def _present_pairs(self, pairs: set[tuple[int, int]]) -> list[tuple[int, int]]:
        return [
            (self._node_of[a], self._node_of[b]) for a, b in sorted(pairs) if a in self._node_of and b in self._node_of
        ]

    def _apply_must_links(self) -> None:
        for a, b in self._present_pairs(self._must):
            self._union(a, b)

    def _find(self, node: int) -> int:
        parent = self._parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def _union(self, a: int, b: int) -> int:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return ra
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]
        self._min_key[ra] = min(self._min_key[ra], self._min_key[rb])
        return ra

    def _refresh(self) -> None:
        """Replay all links from the stored edges (no similarity search) when constraints require it."""
        if not self._stale:
            return
        n = len(self._key_of)
        self._parent = list(range(n))
        self._size = [1] * n
        self._min_key = list(self._key_of)
        self._ignored = set()

        for a, b in self._sha_links:
            self._union(a, b)
        self._apply_must_links()

        # Root -> nodes that may not join that root's cluster.
        forbidden: dict[int, set[int]] = {}
        for a, b in self._present_pairs(self._cannot):
            ra, rb = self._find(a), self._find(b)
            if ra == rb:
                self._ignored.add(_pair(self._key_of[a], self._key_of[b]))
                continue
            forbidden.setdefault(ra, set()).add(b)
            forbidden.setdefault(rb, set()).add(a)

        a_nodes, b_nodes, dist, _ = self._all_edges()
        keys = np.array(self._key_of, dtype=np.int64)
        ka, kb = keys[a_nodes], keys[b_nodes]
        # Strongest first; keys make the order total, hence independent of insertion order.
        order = np.lexsort((np.maximum(ka, kb), np.minimum(ka, kb), dist))
        for a, b in zip(a_nodes[order].tolist(), b_nodes[order].tolist(), strict=True):
            ra, rb = self._find(a), self._find(b)
            if ra == rb:
                continue
            fa, fb = forbidden.get(ra), forbidden.get(rb)
            if fa is not None and fb is not None:
                small, other = (fa, rb) if len(fa) <= len(fb) else (fb, ra)
                if any(self._find(x) == other for x in small):
                    continue
            root = self._union(ra, rb)
            sets = [s for s in (forbidden.pop(ra, None), forbidden.pop(rb, None)) if s is not None]
            if sets:
                # Small-to-large merge keeps the cost of long chains of unions low.
                sets.sort(key=len)
                for smaller in sets[:-1]:
                    sets[-1] |= smaller
                forbidden[root] = sets[-1]
        self._stale = False


def cluster_labels(
    items: Iterable[HashedImage],
    params: ClusterParams | None = None,
    must_link: Iterable[tuple[int, int]] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
) -> dict[int, int]:
    """Cluster a land's images from scratch: key -> cluster label (smallest key of the cluster)."""
    clusterer = NearDuplicateClusterer(params)
    clusterer.apply_constraints(must_link, cannot_link)
    clusterer.add(items)
    return clusterer.labels()
