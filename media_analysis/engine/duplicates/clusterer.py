"""Near-duplicate clusters from confirmed hash matches, under manual constraints.

The rules are those of the package (:mod:`media_analysis.engine.duplicates`): identical
SHA-256, or pHash within ``phash_threshold`` bits confirmed by the dHash or the colour
hash, mirrored copies included; region matches (framed and cropped copies) and overlay
matches (copies under a band or watermark) when the items carry region hashes. Candidate
pairs come from Hamming indexes (:class:`~media_analysis.engine.duplicates.index.HammingIndex`)
over the pHashes, the region pHashes and the trimmed wholes' dHashes.

Clusters are the connected components of that relation (single linkage), computed
with a union-find, optionally under manual constraints (see below).

Incremental use: :class:`NearDuplicateClusterer` keeps every confirmed edge, so adding
images only searches the pairs that involve a new one and never recomputes the old pairs.

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

import math
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from media_analysis.engine.duplicates.hashes import (
    HASH_BITS,
    PHASH_MIRROR_MASK,
    HashArrays,
    HashedImage,
    colorhash_column_has_colour,
    hamming,
    mirror_dhashes,
)
from media_analysis.engine.duplicates.index import HammingIndex
from media_analysis.engine.image.regions import REGION_COUNT

# Regions searched against every region of the others: the whole trimmed picture
# (engine.image.regions.REGIONS starts with it).
_QUERY_REGIONS = (0,)

_Edges = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ClusterParams:
    """Thresholds in bits. ``phash_threshold`` is ``settings.MEDIA_ANALYSIS_DUPLICATE_THRESHOLD``."""

    phash_threshold: int = 10
    dhash_threshold: int = 12
    # None: the colour hash never confirms (dHash alone does).
    colorhash_threshold: int | None = 2
    # Whether the colour hashes of two pictures without colour may confirm (they are
    # alike for every greyscale picture, so they confirm nothing).
    colorhash_without_colour: bool = False
    # Also link left-right mirrored copies, found through mirror_phash / mirror_dhash.
    mirrors: bool = True
    # Framed and cropped copies: the whole (or centred square) of one picture within
    # region_phash_threshold bits of a region of the other, confirmed by the same two
    # regions' dHashes within region_dhash_threshold bits. None: region hashes unused.
    region_phash_threshold: int | None = 6
    region_dhash_threshold: int = 12
    # Copies under a semi-transparent overlay (a watermark band): the trimmed wholes'
    # dHashes within overlay_dhash_threshold bits, confirmed by at least
    # overlay_region_share of the regions, each pair of same regions' dHashes within
    # overlay_region_dhash_threshold bits; no pHash asked (see _new_overlay_edges). A
    # dHash with fewer than overlay_min_bits bits of either value is not searched.
    # None: off (and off when region hashes are unused).
    overlay_dhash_threshold: int | None = 5
    overlay_region_dhash_threshold: int = 6
    overlay_region_share: float = 0.75
    overlay_min_bits: int = 16


def split_links(group_a: Iterable[int], group_b: Iterable[int]) -> list[tuple[int, int]]:
    """Cannot-links that split a cluster into ``group_a`` and ``group_b``: every cross pair."""
    group_b = list(group_b)
    return [(a, b) for a in group_a for b in group_b if a != b]


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a <= b else (b, a)


class NearDuplicateClusterer:
    """Incremental near-duplicate clustering of images (see the module doc).

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
        if p.region_phash_threshold is not None and not 0 <= p.region_phash_threshold <= HASH_BITS:
            raise ValueError("the region pHash threshold must be None or between 0 and 64")
        if p.overlay_dhash_threshold is not None and not 0 <= p.overlay_dhash_threshold <= HASH_BITS:
            raise ValueError("the overlay dHash threshold must be None or between 0 and 64")
        if not 0.0 <= p.overlay_region_share <= 1.0:
            raise ValueError("the overlay region share must be between 0 and 1")
        self._index = HammingIndex(p.phash_threshold)
        # Region hashes: every region of every picture (keys node * REGION_COUNT + region),
        # and the query regions alone; dHashes and frames by node.
        region_t = p.region_phash_threshold if p.region_phash_threshold is not None else 0
        self._regions = HammingIndex(region_t)
        self._query_regions = HammingIndex(region_t)
        self._region_dhash = np.empty(0, dtype=np.uint64)  # by node * REGION_COUNT + region
        # Overlay matches: the trimmed whole's dHash of the pictures whose dHash is
        # informative (keys: nodes), and the trimmed whole's pHash by node.
        self._overlay = HammingIndex(_overlay_threshold(p))
        self._whole_phash = np.empty(0, dtype=np.uint64)
        self._has_regions = np.empty(0, dtype=bool)  # by node
        self._trimmed: set[int] = set()
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
        self._coloured = np.empty(0, dtype=bool)  # the colour hash has hues
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

    def add(self, items: Iterable[HashedImage] | HashArrays) -> None:
        """Add images, as :class:`HashedImage` items or as columns (:class:`HashArrays`), with one result."""
        batch = items if isinstance(items, HashArrays) else HashArrays.from_items(items)
        keys = batch.keys.tolist()
        if len(set(keys)) != len(keys) or not self._node_of.keys().isdisjoint(keys):
            seen: set[int] = set()
            for key in keys:
                if key in self._node_of or key in seen:
                    raise ValueError(f"key {key} was already added")
                seen.add(key)

        first_link = len(self._sha_links)
        first_pos = len(self._index)
        first_node = len(self._key_of)
        nodes = range(first_node, first_node + len(keys))
        self._node_of.update(zip(keys, nodes, strict=True))
        self._key_of.extend(keys)
        self._parent.extend(nodes)
        self._size.extend([1] * len(keys))
        self._min_key.extend(keys)
        sha_node = self._sha_node
        for node, sha in zip(nodes, batch.sha256.tolist(), strict=True):
            if sha:
                if sha in sha_node:
                    self._sha_links.append((sha_node[sha], node))
                else:
                    sha_node[sha] = node

        region_nodes = self._add_regions(batch, first_node)
        self._has_regions = np.concatenate([self._has_regions, np.zeros(len(keys), dtype=bool)])
        self._has_regions[region_nodes] = True
        whole = region = None
        hashed = np.flatnonzero(batch.has_phash)
        if len(hashed):
            self._index.add_array(batch.keys[hashed], batch.phash[hashed])
            self._append_confirmations(batch, hashed, first_node)
            whole = self._new_edges(first_pos)
        if len(region_nodes):
            region = self._new_region_edges(region_nodes)
            overlay = self._new_overlay_edges(region_nodes)
            if overlay is not None:
                # Overlay matches are taken inside the frames too: they confirm a framed whole-image match.
                region = _concatenate(region, overlay)
        if whole is not None or region is not None:
            a, b, dist, mirrored = self._merge_edges(whole, region)
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
        roots = self._roots()
        keys = np.array(self._key_of, dtype=np.int64)
        if not include_singletons:
            shared = np.bincount(roots, minlength=len(roots))[roots] > 1
            roots, keys = roots[shared], keys[shared]
        order = np.lexsort((keys, roots))
        flat = keys[order].tolist()
        bounds = [0, *(np.flatnonzero(np.diff(roots[order])) + 1).tolist(), len(flat)]
        groups = [flat[start:end] for start, end in pairwise(bounds) if end > start]
        groups.sort(key=lambda members: members[0])
        return groups

    def cluster_of(self, key: int) -> int:
        """Stable label of the key's cluster: its smallest key. KeyError for an unknown key."""
        self._refresh()
        return self._min_key[self._find(self._node_of[key])]

    def labels(self) -> dict[int, int]:
        """Every key to its cluster label (singletons are labelled by their own key)."""
        self._refresh()
        labels = np.array(self._min_key, dtype=np.int64)[self._roots()]
        return dict(zip(self._key_of, labels.tolist(), strict=True))

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

    def _append_confirmations(self, batch: HashArrays, hashed: np.ndarray, first_node: int) -> None:
        """The confirming hashes of the images at ``hashed`` (positions in ``batch``), by index position."""
        self._pos_node = np.concatenate([self._pos_node, (first_node + hashed).astype(np.intp)])
        self._dhash = np.concatenate([self._dhash, batch.dhash[hashed]])
        self._has_dhash = np.concatenate([self._has_dhash, batch.has_dhash[hashed]])
        self._color_hi = np.concatenate([self._color_hi, batch.colorhash[hashed, 0]])
        self._color_lo = np.concatenate([self._color_lo, batch.colorhash[hashed, 1]])
        self._has_color = np.concatenate([self._has_color, batch.has_colorhash[hashed]])
        coloured = batch.has_colorhash[hashed] & colorhash_column_has_colour(batch.colorhash[hashed])
        self._coloured = np.concatenate([self._coloured, coloured])

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

    def _add_regions(self, batch: HashArrays, first_node: int) -> np.ndarray:
        """Index the region hashes of ``batch`` (nodes from ``first_node``); the nodes that have them."""
        self._region_dhash = np.concatenate([self._region_dhash, np.zeros(len(batch) * REGION_COUNT, dtype=np.uint64)])
        self._whole_phash = np.concatenate([self._whole_phash, np.zeros(len(batch), dtype=np.uint64)])
        if self.params.region_phash_threshold is None:
            return np.empty(0, dtype=np.int64)
        rows = np.flatnonzero(batch.has_regions)
        if not len(rows):
            return np.empty(0, dtype=np.int64)
        nodes = first_node + rows.astype(np.int64)
        self._trimmed.update(nodes[batch.trimmed[rows]].tolist())
        keys = nodes[:, None] * REGION_COUNT + np.arange(REGION_COUNT)
        values = batch.region_phashes[rows]
        self._regions.add_array(keys.ravel(), values.ravel())
        query = list(_QUERY_REGIONS)
        self._query_regions.add_array(keys[:, query].ravel(), values[:, query].ravel())
        dhash_matrix = batch.region_dhashes[rows]
        self._region_dhash[keys.ravel()] = dhash_matrix.ravel()
        self._whole_phash[nodes] = values[:, 0]
        if self.params.overlay_dhash_threshold is not None:
            informative = _informative(dhash_matrix[:, 0], self.params.overlay_min_bits)
            self._overlay.add_array(nodes[informative], dhash_matrix[informative, 0])
        return nodes

    def _new_region_edges(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Confirmed region matches involving one of ``nodes`` (just added), as node ids.

        The query regions of the new pictures are searched among every region, and every
        region of the new pictures among the query regions of the older ones: together,
        each (query region, region) pair with a new member once or twice, never missed.
        """
        t = self.params.region_phash_threshold
        assert t is not None
        q_keys = self._query_regions.keys
        r_keys = self._regions.keys
        first_new = int(nodes.min()) * REGION_COUNT
        q_new = q_keys >= first_new
        rows, positions, dist = self._regions.search(self._query_regions.values[q_new], t)
        key_a = q_keys[q_new][rows]
        key_b = r_keys[positions]
        if not q_new.all():
            # Older pictures' query regions against the new pictures' regions (a full run has none).
            r_new = r_keys >= first_new
            rows2, positions2, dist2 = self._query_regions.search(self._regions.values[r_new], t)
            old = q_keys[positions2] < first_new
            key_a = np.concatenate([key_a, q_keys[positions2][old]])
            key_b = np.concatenate([key_b, r_keys[r_new][rows2][old]])
            dist = np.concatenate([dist, dist2[old]])
        node_a, node_b = key_a // REGION_COUNT, key_b // REGION_COUNT
        dhash_distance = np.bitwise_count(self._region_dhash[key_a] ^ self._region_dhash[key_b])
        keep = (node_a != node_b) & (dhash_distance <= self.params.region_dhash_threshold)
        node_a, node_b, dist = node_a[keep], node_b[keep], dist[keep]
        return node_a.astype(np.intp), node_b.astype(np.intp), dist.astype(np.intp), np.zeros(len(dist), dtype=bool)

    def _new_overlay_edges(self, nodes: np.ndarray) -> _Edges | None:
        """Confirmed overlay matches involving one of ``nodes`` (just added), as node ids; None when off.

        A semi-transparent band or mark over part of a picture moves the lowest
        frequencies that the pHash keeps (of the whole and of every region that holds
        it) far more than the dHash, which compares neighbouring cells and changes only
        where the mark's edges fall. So the trimmed wholes' dHashes propose the pair,
        and the regions confirm it: most of them must agree by their dHash, which lets
        the regions a mark covers disagree while two different pictures of one layout
        (screenshots of a site) agree on a few regions only. A dHash made of nearly one
        value (a smooth horizontal gradient, a page of text on a graded background)
        says little about the picture and is not searched.
        """
        t = self.params.overlay_dhash_threshold
        if t is None or not len(self._overlay):
            return None
        keys = self._overlay.keys
        first_new = np.searchsorted(keys, int(nodes.min()))
        i, j, _ = self._overlay.pairs(since=int(first_new))
        node_a, node_b = keys[i], keys[j]
        columns = np.arange(REGION_COUNT)
        agree = (
            np.bitwise_count(
                self._region_dhash[node_a[:, None] * REGION_COUNT + columns]
                ^ self._region_dhash[node_b[:, None] * REGION_COUNT + columns]
            )
            <= self.params.overlay_region_dhash_threshold
        )
        needed = math.ceil(self.params.overlay_region_share * REGION_COUNT)
        keep = agree.sum(axis=1) >= needed
        node_a, node_b = node_a[keep], node_b[keep]
        # The pair's strength, as for other matches, is a pHash distance: the trimmed wholes'.
        dist = np.bitwise_count(self._whole_phash[node_a] ^ self._whole_phash[node_b])
        return node_a.astype(np.intp), node_b.astype(np.intp), dist.astype(np.intp), np.zeros(len(dist), dtype=bool)

    def _merge_edges(
        self, whole: _Edges | None, region: _Edges | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Whole-image and region edges, one per pair (the closest; a direct match before a mirrored one).

        A whole-image match where a side had a frame trimmed compares frames more than
        pictures (two screenshots in one frame colour): when both sides have region
        hashes, it stands only if the regions, taken inside the frames, match too.
        """
        if whole is not None and self._trimmed and len(whole[0]):
            confirmed = set()
            if region is not None:
                confirmed = set(zip(*(side.tolist() for side in _ordered(region[0], region[1])), strict=True))
            lo, hi = _ordered(whole[0], whole[1])
            framed = np.array(
                [
                    (a in self._trimmed or b in self._trimmed)
                    and bool(self._has_regions[a] and self._has_regions[b])
                    and (a, b) not in confirmed
                    for a, b in zip(lo.tolist(), hi.tolist(), strict=True)
                ],
                dtype=bool,
            )
            whole = (whole[0][~framed], whole[1][~framed], whole[2][~framed], whole[3][~framed])
        chosen = [edges for edges in (whole, region) if edges is not None]
        a, b, dist, mirrored = (np.concatenate(columns) for columns in zip(*chosen, strict=True))
        lo, hi = _ordered(a, b)
        order = np.lexsort((mirrored, dist, hi, lo))
        lo, hi, dist, mirrored = lo[order], hi[order], dist[order], mirrored[order]
        first = np.ones(len(lo), dtype=bool)
        first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
        return lo[first], hi[first], dist[first], mirrored[first]

    def _confirmed(self, i: np.ndarray, j: np.ndarray, mirrored: bool) -> np.ndarray:
        p = self.params
        dhash_i = mirror_dhashes(self._dhash[i]) if mirrored else self._dhash[i]
        by_dhash = (
            self._has_dhash[i] & self._has_dhash[j] & (np.bitwise_count(dhash_i ^ self._dhash[j]) <= p.dhash_threshold)
        )
        if p.colorhash_threshold is None:
            return by_dhash
        color_distance = np.bitwise_count(self._color_lo[i] ^ self._color_lo[j]).astype(np.intp)
        color_distance += np.bitwise_count(self._color_hi[i] ^ self._color_hi[j])
        by_color = self._has_color[i] & self._has_color[j] & (color_distance <= p.colorhash_threshold)
        if not p.colorhash_without_colour:
            by_color &= self._coloured[i] | self._coloured[j]
        return by_dhash | by_color

    def _all_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not self._edge_chunks:
            empty = np.empty(0, dtype=np.intp)
            return empty, empty, empty, np.empty(0, dtype=bool)
        if len(self._edge_chunks) > 1:
            a, b, dist, mirrored = (np.concatenate(parts) for parts in zip(*self._edge_chunks, strict=True))
            self._edge_chunks = [(a, b, dist, mirrored)]
        return self._edge_chunks[0]

    def _present_pairs(self, pairs: set[tuple[int, int]]) -> list[tuple[int, int]]:
        return [
            (self._node_of[a], self._node_of[b]) for a, b in sorted(pairs) if a in self._node_of and b in self._node_of
        ]

    def _apply_must_links(self) -> None:
        for a, b in self._present_pairs(self._must):
            self._union(a, b)

    def _roots(self) -> np.ndarray:
        """The root of every node, by pointer jumping over the parent links: no Python step per node."""
        parent = np.array(self._parent, dtype=np.intp)
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                return parent
            parent = grand

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


def _as_arrays(items: HashArrays | Iterable[HashedImage]) -> HashArrays:
    return items if isinstance(items, HashArrays) else HashArrays.from_items(items)


def phash_candidates(
    old: HashArrays | Iterable[HashedImage], new: HashArrays | Iterable[HashedImage], threshold: int, mirrors: bool
) -> set[int]:
    """Keys of ``old`` items with a pHash within ``threshold`` bits of a new item's (or of its mirror image's).

    A superset of the whole-image matches a clusterer would confirm between old and new
    items (the confirmation is left to it), for incremental updates.
    """
    old, new = _as_arrays(old), _as_arrays(new)
    old_rows, new_rows = np.flatnonzero(old.has_phash), np.flatnonzero(new.has_phash)
    if not len(old_rows) or not len(new_rows):
        return set()
    index = HammingIndex(threshold)
    index.add_array(old.keys[old_rows], old.phash[old_rows])
    since = len(index)
    index.add_array(new.keys[new_rows], new.phash[new_rows])
    keys = index.keys
    found: set[int] = set()
    for xor in (0, PHASH_MIRROR_MASK) if mirrors else (0,):
        _, j, _ = index.pairs(since=since, xor=xor)
        found.update(keys[j[j < since]].tolist())
    return found


def region_candidates(
    old: HashArrays | Iterable[HashedImage], new: HashArrays | Iterable[HashedImage], threshold: int
) -> set[int]:
    """Keys of ``old`` items with a region pHash within ``threshold`` bits of a new item's, query regions on one side.

    A superset of the region matches a clusterer would confirm between old and new items
    (the dHash confirmation is left to it), for incremental updates.
    """

    def regions_of(items: HashArrays) -> tuple[np.ndarray, np.ndarray]:
        rows = np.flatnonzero(items.has_regions)
        # Increasing keys let the index skip its check for repeated keys.
        rows = rows[np.argsort(items.keys[rows], kind="stable")]
        return items.keys[rows], items.region_phashes[rows]

    def indexed(found: tuple[np.ndarray, np.ndarray], regions: tuple[int, ...] | None) -> HammingIndex:
        index = HammingIndex(threshold)
        item_keys, values = found
        if len(item_keys):
            columns = np.array(regions if regions is not None else range(REGION_COUNT), dtype=np.int64)
            keys = item_keys[:, None] * REGION_COUNT + columns
            index.add_array(keys.ravel(), values[:, columns].ravel())
        return index

    found: set[int] = set()
    old_regions, new_regions = regions_of(_as_arrays(old)), regions_of(_as_arrays(new))
    new_all, new_query = indexed(new_regions, None), indexed(new_regions, _QUERY_REGIONS)
    old_all, old_query = indexed(old_regions, None), indexed(old_regions, _QUERY_REGIONS)
    for stored, queries in ((old_all, new_query), (old_query, new_all)):
        if len(stored) and len(queries):
            _, positions, _ = stored.search(queries.values, threshold)
            found.update((stored.keys[positions] // REGION_COUNT).tolist())
    return found


def overlay_candidates(
    old: HashArrays | Iterable[HashedImage], new: HashArrays | Iterable[HashedImage], params: ClusterParams
) -> set[int]:
    """Keys of ``old`` items whose trimmed whole's dHash is within the overlay threshold of a new item's.

    A superset of the overlay matches a clusterer would confirm between old and new
    items (the regions' confirmation is left to it), for incremental updates.
    """
    t = _overlay_threshold(params)
    if params.overlay_dhash_threshold is None or params.region_phash_threshold is None:
        return set()

    def wholes(items: HashArrays) -> tuple[np.ndarray, np.ndarray]:
        rows = np.flatnonzero(items.has_regions)
        # Increasing keys let the index skip its check for repeated keys.
        rows = rows[np.argsort(items.keys[rows], kind="stable")]
        keys, values = items.keys[rows], items.region_dhashes[rows, 0]
        informative = _informative(values, params.overlay_min_bits)
        return keys[informative], values[informative]

    old_keys, old_values = wholes(_as_arrays(old))
    new_keys, new_values = wholes(_as_arrays(new))
    if not len(old_keys) or not len(new_keys):
        return set()
    index = HammingIndex(t)
    index.add_array(old_keys, old_values)
    _, positions, _ = index.search(new_values, t)
    return set(index.keys[positions].tolist())


def overlay_match(a: HashedImage, b: HashedImage, params: ClusterParams) -> bool:
    """Whether the overlay rule joins ``a`` and ``b`` (see ``NearDuplicateClusterer._new_overlay_edges``)."""
    t = params.overlay_dhash_threshold
    if t is None or a.region_dhashes is None or b.region_dhashes is None:
        return False
    if len(a.region_dhashes) != REGION_COUNT or len(b.region_dhashes) != REGION_COUNT:
        return False
    wholes = np.array([a.region_dhashes[0], b.region_dhashes[0]], dtype=np.uint64)
    if not _informative(wholes, params.overlay_min_bits).all() or hamming(a.region_dhashes[0], b.region_dhashes[0]) > t:
        return False
    agree = sum(
        hamming(x, y) <= params.overlay_region_dhash_threshold
        for x, y in zip(a.region_dhashes, b.region_dhashes, strict=True)
    )
    return agree >= math.ceil(params.overlay_region_share * REGION_COUNT)


def _overlay_threshold(params: ClusterParams) -> int:
    return params.overlay_dhash_threshold if params.overlay_dhash_threshold is not None else 0


def _informative(dhashes: np.ndarray, min_bits: int) -> np.ndarray:
    """Which dHashes have at least ``min_bits`` bits of each value."""
    ones = np.bitwise_count(dhashes).astype(np.intp)
    return np.minimum(ones, HASH_BITS - ones) >= min_bits


def _concatenate(a: _Edges, b: _Edges) -> _Edges:
    return (
        np.concatenate([a[0], b[0]]),
        np.concatenate([a[1], b[1]]),
        np.concatenate([a[2], b[2]]),
        np.concatenate([a[3], b[3]]),
    )


def _ordered(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.minimum(a, b), np.maximum(a, b)


@dataclass(frozen=True)
class IdenticalCopies:
    """Items whose every hash is identical, folded into one of them before the search (:func:`fold_identical`).

    ``distinct`` holds one row per folded group (its smallest key) and every item left
    as it was; ``folded`` are the keys taken out, ``into`` the key each was folded into.
    """

    distinct: HashArrays
    folded: np.ndarray  # int64
    into: np.ndarray  # int64, by position in ``folded``

    def __len__(self) -> int:
        return len(self.folded)

    def expand(self, clusters: list[list[int]]) -> list[list[int]]:
        """The clusters of ``distinct`` (as :meth:`NearDuplicateClusterer.clusters` gives them) with the folded keys.

        A kept key alone in the search but carrying copies becomes a cluster of its own.
        Sorted as :meth:`NearDuplicateClusterer.clusters` sorts.
        """
        if not len(self.folded):
            return clusters
        copies: dict[int, list[int]] = {}
        for key, into in zip(self.folded.tolist(), self.into.tolist(), strict=True):
            copies.setdefault(into, []).append(key)
        out = []
        for members in clusters:
            extra = [key for member in members for key in copies.pop(member, ())]
            out.append(sorted(members + extra) if extra else members)
        out.extend(sorted([into, *keys]) for into, keys in copies.items())
        out.sort(key=lambda members: members[0])
        return out


def fold_identical(items: HashArrays, keep_apart: Iterable[int] = ()) -> IdenticalCopies:
    """Fold the items whose whole hash signature is identical into one item, the smallest key.

    Such items are one cluster whatever the rest of the land (see below), and each has
    the same confirmed matches as the others at the same distances, so clustering the
    folded items and expanding the clusters gives the clusters of all the items, while
    the candidate pairs no longer grow with the square of a picture's number of copies.

    Only items whose copies are joined unconditionally are folded: a SHA-256 shared by
    all of them (a hard link), or, for items whose SHA-256 no other item has (the same
    picture under distinct bytes), a pHash and a dHash (distance zero, confirmed; framed
    ones are confirmed by their identical regions). Keys in ``keep_apart`` (those named
    by a manual link) are never folded: a must-link or a cannot-link on one copy and not
    on the others makes them differ. For the others, in the greedy pass under
    cannot-links (edges by increasing distance, then by keys), the first edge that
    reaches a copy leads to the same node for every copy (edges of one node come in the
    order of the other end's key) and each copy, still on its own and without a
    cannot-link, follows it unrefused; so the folded item, the smallest key, takes the
    same place in the order and meets the same refusals.
    """
    signature_columns = [
        items.phash[:, None],
        items.dhash[:, None],
        items.colorhash,
        items.region_phashes,
        items.region_dhashes,
    ]
    empty = IdenticalCopies(items, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    if len(items) < 2:
        return empty
    sha = np.array([value or "" for value in items.sha256.tolist()], dtype=str)
    _, sha_code, sha_count = np.unique(sha, return_inverse=True, return_counts=True)
    shared_sha = (sha_count[sha_code] > 1) & (sha != "")
    # A SHA-256 shared with other items is part of the signature (those items are one
    # unit from the start); a unique one is not (copies of a picture under distinct bytes).
    sha_code = np.where(shared_sha, sha_code.ravel() + 1, 0)
    eligible = (shared_sha | (items.has_phash & items.has_dhash)) & ~np.isin(
        items.keys, np.fromiter(set(keep_apart), dtype=np.int64)
    )
    # Only items sharing a pHash (or, without one, a SHA-256) can be identical: the full
    # comparison runs on those few.
    _, phash_code, phash_count = np.unique(
        np.where(items.has_phash, items.phash, np.uint64(0)), return_inverse=True, return_counts=True
    )
    rows = np.flatnonzero(eligible & ((phash_count[phash_code] > 1) | ~items.has_phash))
    if len(rows) < 2:
        return empty
    flags = (
        items.has_phash.astype(np.uint64)
        | items.has_dhash.astype(np.uint64) << np.uint64(1)
        | items.has_colorhash.astype(np.uint64) << np.uint64(2)
        | items.has_regions.astype(np.uint64) << np.uint64(3)
        | items.trimmed.astype(np.uint64) << np.uint64(4)
    )
    matrix = np.hstack(
        [
            sha_code[rows].astype(np.uint64)[:, None],
            flags[rows, None],
            *(np.ascontiguousarray(column[rows]).astype(np.uint64, copy=False) for column in signature_columns),
        ]
    )
    _, group, counts = np.unique(matrix, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    shared = counts[group] > 1
    rows, group = rows[shared], group[shared]
    if not len(rows):
        return empty
    keys = items.keys[rows]
    order = np.lexsort((keys, group))
    rows, group, keys = rows[order], group[order], keys[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    into = keys[first][np.cumsum(first) - 1]
    drop = np.zeros(len(items), dtype=bool)
    drop[rows[~first]] = True
    kept = np.flatnonzero(~drop)
    return IdenticalCopies(items.take(kept), keys[~first], into[~first])


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
