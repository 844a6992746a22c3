"""Benchmark: which rule joins the false pairs of the reposting set, and what a finer luminance grid would confirm.

    .venv/bin/python bench/duplicates_confirm.py              # the tuning half (a few minutes)
    .venv/bin/python bench/duplicates_confirm.py --held-out   # the held-out half: once, for a rule adopted
    .venv/bin/python bench/duplicates_confirm.py --cache /tmp/tuning.pkl   # keep the half's hashes between runs

The reposting set of bench/_repost_set.py, one half of it, hashed by the engine
(``analyse_image``) as media rows store them; the random crops are left out, as in the
ten-edit rows of bench/duplicates.py. Clustered with today's rules, then:

1. every confirmed pair of two different pictures is told by the rules that join it: the
   whole-image pHash confirmed by the dHash or by the colour hash, its mirrored form, a
   region match (the whole of one picture and a named region of the other), the overlay
   rule. A pair may satisfy several.
2. candidate confirmations measured as a filter on those same pairs (a pair stays when
   one of its rules is confirmed), then connected components again: recall per edit
   (the copy in its original's cluster) and pairwise precision. The candidate is a grid
   of mean grey levels, 32 x 32 cells, of the two regions a rule compares (the trimmed
   whole for the whole-image and overlay rules, mirrored for the mirror rule), taken on
   the region hashes' working copy (the decoded image reduced to 256 px). Two grids agree
   when at most ``blocks`` of their 16 blocks (4 x 4 blocks of 8 x 8 cells) have more
   than ``share`` of their cells ``levels`` grey levels apart or more: a band or mark over
   part of a picture spoils a few blocks only. Three ways of having the second region's
   grid: computed on that region itself (which storing would take 19 grids per media), only
   for the whole-image rules (region matches left unconfirmed), and resampled from the
   whole's grid (one grid per media). Last, grids small enough to store for every region:
   8 x 8 cells of each region at 4 bits (the 32 x 32 grid averaged by 4 x 4), two grids
   agreeing when at most ``cells`` of their cells are ``levels`` apart or more.
3. signatures small enough to store (a few hundred bytes per media), measured the same way:
   one 32 x 32 grid of the trimmed whole at 4 bits (512 bytes) from which the 16 x 16 grid
   of any compared region is taken by area (each stored cell a uniform patch); and, for a
   picture on a plain background (a product shot on white), the box of what differs from
   that background with a 16 x 16 grid of it and its aspect ratio (about 130 bytes), which
   a framed, cut or resized copy keep while the trim cannot tell a white frame from a
   white background. Also the recall that today's rules give through pairs of one picture
   alone (a copy found only through a false link is not found there): the ceiling of any
   confirmation.
4. margins: each confirmed pair scored by measures that tolerate a change of level, on the
   16 x 16 grids of the compared regions taken from the whole's grid stored at 8 bits: the
   normalised correlation of each block (its mean removed, divided by the spreads), pooled
   or block by block; the level-free distance (the mean absolute difference in a block once
   the block's mean difference is removed, read in the fourth most different block); the
   difference of the gradients; the count of blocks off. For each, the spread of the score
   over the pairs of one picture and over the pairs of two, how many true pairs are no
   better than the nearest false one, and the recall and precision of a cut just past it.
   Then a rule of two gates at once (blocks off and level-free distance) or the object.

With ``--thumbnail-cost``, instead: what a confirmation that reads the stored thumbnails of
the candidate pairs would cost (nothing new stored): each image's thumbnail made as the
analysis makes it (320 px JPEG), written to a file, then read, decoded, trimmed and gridded
again (every region's 32 x 32 grid and the object), CPU time per thumbnail.

Nothing here is a rule of the engine: the measures say what such a rule would do.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import pickle
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench import _repost_set  # noqa: E402
from bench.duplicates import engine_hashed, pair_scores, table  # noqa: E402
from media_analysis.engine.duplicates.clusterer import ClusterParams, NearDuplicateClusterer, overlay_match  # noqa: E402
from media_analysis.engine.duplicates.hashes import (  # noqa: E402
    HashedImage,
    colorhash_has_colour,
    hamming,
    mirror_dhash,
    mirror_phash,
)
from media_analysis.engine.image.decode import decode_frame, normalised  # noqa: E402
from media_analysis.engine.image.regions import (  # noqa: E402
    REGION_COUNT,
    REGIONS,
    _grid_means,
    _region_box,
    _working_copy,
    trimmed_box,
)
from media_analysis.engine.image.thumbnail import make_thumbnail  # noqa: E402

CELLS = 32
BLOCKS = 4
COARSE = 8
LUMA = np.array([0.299, 0.587, 0.114])
# The storable signatures: the whole's CELLS x CELLS grid at STORED_STEP levels a step, and
# COMPARED x COMPARED cells for each compared region.
STORED_STEP = 16  # 4 bits a cell
COMPARED = 16
# A plain background: the trimmed picture's corners within this many grey levels; the
# object: the rows and columns with more than OBJECT_SHARE of their pixels OBJECT_LEVELS
# or more away from it. OBJECT_INSET lines are skipped at each side of the trimmed box,
# where a reduced JPEG blends the frame with the picture.
PLAIN_CORNERS = 10
OBJECT_LEVELS = 24
OBJECT_SHARE = 0.01
OBJECT_INSET = 2
# The block correlation's constant for flat blocks (a variance, in grey levels squared).
LIKENESS_FLAT = 16.0
# The chosen confirmation (tuning half): the stored whole grid at 8 bits, a region's 16 x 16 grid by area, at
# most CHOSEN_BLOCKS blocks with more than 6 % of their cells 16 levels apart, and the level-free distance of the
# fourth most different block at most CHOSEN_DISTANCE grey levels; or the object on a plain background.
CHOSEN_BLOCKS = 4
CHOSEN_DISTANCE = 5.0


@dataclass(frozen=True)
class Signature:
    """What a media would store: the whole's grid at 4 bits, the trimmed box's shape, an object on a plain ground."""

    whole: np.ndarray  # CELLS x CELLS grey levels, quantised
    shape: tuple[int, int]  # trimmed box (height, width) on the working copy
    aspect: float | None  # width / height of the object's box, None without a plain background
    object_grid: np.ndarray | None  # COMPARED x COMPARED grey levels over the object's box, quantised


def quantised(grid: np.ndarray) -> np.ndarray:
    return np.floor(grid / STORED_STEP) * STORED_STEP + STORED_STEP / 2


def object_on_plain(grey: np.ndarray) -> tuple[float, np.ndarray] | None:
    """(aspect, grid) of the object of a trimmed grey picture on a plain background, or None.

    The object must leave background on all four sides: a picture whose content runs to
    an edge (a photo, a page) has no plain background, whatever its corners.
    """
    if min(grey.shape) > 8 * OBJECT_INSET:
        grey = grey[OBJECT_INSET:-OBJECT_INSET, OBJECT_INSET:-OBJECT_INSET]
    corners = grey[[0, 0, -1, -1], [0, -1, 0, -1]]
    if corners.max() - corners.min() > PLAIN_CORNERS:
        return None
    away = np.abs(grey - np.median(corners)) >= OBJECT_LEVELS
    rows = np.flatnonzero(away.mean(axis=1) > OBJECT_SHARE)
    cols = np.flatnonzero(away.mean(axis=0) > OBJECT_SHARE)
    if not len(rows) or not len(cols):
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (
        min(bottom - top, right - left) < 8
        or top == 0
        or left == 0
        or bottom == grey.shape[0]
        or right == grey.shape[1]
    ):
        return None
    h, w = grey.shape
    integral = np.zeros((h + 1, w + 1))
    np.cumsum(np.cumsum(grey, axis=0), axis=1, out=integral[1:, 1:])
    xs = np.round(np.linspace(left, right, COMPARED + 1)).astype(int)
    ys = np.round(np.linspace(top, bottom, COMPARED + 1)).astype(int)
    corner = integral[np.ix_(ys, xs)]
    sums = corner[1:, 1:] - corner[:-1, 1:] - corner[1:, :-1] + corner[:-1, :-1]
    area = np.maximum(np.diff(ys)[:, None] * np.diff(xs)[None, :], 1)
    return (right - left) / (bottom - top), quantised(sums / area)


def by_area(whole: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The COMPARED x COMPARED grid of ``box`` (shares of the whole) from the whole's grid, a cell a uniform patch."""
    cells = whole.shape[0]

    def weights(low: float, high: float) -> np.ndarray:
        edges = low + (high - low) * np.linspace(0, 1, COMPARED + 1)
        source = np.linspace(0, 1, cells + 1)
        overlap = np.minimum(edges[1:, None], source[None, 1:]) - np.maximum(edges[:-1, None], source[None, :-1])
        overlap = np.clip(overlap, 0, None)
        return overlap / overlap.sum(axis=1, keepdims=True)

    left, top, right, bottom = box
    return weights(top, bottom) @ whole @ weights(left, right).T


def shift_tolerant(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Per cell, the distance to the nearest of the other grid's 3 x 3 neighbourhood, the larger of both ways.

    An object's box found one pixel wider or narrower moves every cell along its blurred edge.
    """

    def one_way(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        padded = np.pad(q, 1, mode="edge")
        n = p.shape[0]
        around = np.stack([padded[i : i + n, j : j + n] for i in range(3) for j in range(3)])
        return np.abs(around - p[None]).min(axis=0)

    return np.maximum(one_way(gx, gy), one_way(gy, gx))


def blocks_apart(apart: np.ndarray, share: float) -> int:
    """Blocks (4 x 4 of the grid) with more than ``share`` of their cells apart."""
    side = apart.shape[0] // BLOCKS
    return int((apart.reshape(BLOCKS, side, BLOCKS, side).mean(axis=(1, 3)) > share).sum())


def block_rows(grid: np.ndarray) -> np.ndarray:
    """The grid's cells block by block (4 x 4 blocks), one row a block."""
    side = grid.shape[0] // BLOCKS
    return grid.reshape(BLOCKS, side, BLOCKS, side).transpose(0, 2, 1, 3).reshape(BLOCKS * BLOCKS, side * side)


def block_likeness(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Per block, the normalised correlation of the two grids with each block's mean removed.

    Written as 2 cov / (var x + var y + c): 1 for the same pattern at any brightness, about 1 for two
    flat blocks (``c`` keeps them from dividing by nothing), near 0 for a pattern against a flat block.
    """
    x, y = block_rows(gx), block_rows(gy)
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    return (2 * (x * y).mean(axis=1) + LIKENESS_FLAT) / ((x**2).mean(axis=1) + (y**2).mean(axis=1) + LIKENESS_FLAT)


def pooled_likeness(gx: np.ndarray, gy: np.ndarray, worst: int) -> float:
    """The same correlation pooled over the blocks (each block's mean removed), the ``worst`` blocks left out:
    blocks of more contrast weigh more."""
    x, y = block_rows(gx), block_rows(gy)
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    cov, var = (x * y).sum(axis=1), (x**2).sum(axis=1) + (y**2).sum(axis=1)
    kept = np.argsort((2 * cov + 1e-9) / (var + 1e-9))[worst:]
    return float((2 * cov[kept].sum() + LIKENESS_FLAT) / (var[kept].sum() + LIKENESS_FLAT))


def level_free_distance(gx: np.ndarray, gy: np.ndarray, worst: int) -> float:
    """The mean absolute difference of the two grids in their (``worst`` + 1)-th most different block, each
    block's mean difference removed first: a band, a caption or a recompression shifts a block's level, a
    different text line or print changes its pattern. The ``worst`` blocks are left to a mark or a band."""
    d = block_rows(gx) - block_rows(gy)
    d = d - d.mean(axis=1, keepdims=True)
    return float(np.sort(np.abs(d).mean(axis=1))[-1 - worst])


def gradient_distance(gx: np.ndarray, gy: np.ndarray, worst: int) -> float:
    """The mean length of the difference of the two grids' gradients in their (``worst`` + 1)-th most
    different block: edges and their orientation, not levels."""
    d = gx - gy
    dx = np.diff(d, axis=1, append=d[:, -1:])
    dy = np.diff(d, axis=0, append=d[-1:, :])
    return float(np.sort(block_rows(np.hypot(dx, dy)).mean(axis=1))[-1 - worst])


def spread(values: list[float]) -> str:
    """Minimum, 1st, 5th, 10th, 50th, 90th, 99th percentiles and maximum."""
    if not values:
        return "none"
    q = np.quantile(values, [0, 0.01, 0.05, 0.1, 0.5, 0.9, 0.99, 1])
    return " / ".join(f"{v:.3f}" for v in q)


@dataclass(frozen=True)
class Rule:
    """One rule joining a pair: region ``ra`` of image ``a`` against region ``rb`` of image ``b``."""

    name: str
    a: int
    ra: int
    b: int
    rb: int
    mirrored: bool = False


def grids_of(data: bytes) -> tuple[np.ndarray, tuple[int, int], Signature, float]:
    """The 32 x 32 grey grids of every region of the trimmed picture, the trimmed box's (height, width), the
    storable signature and the CPU seconds it took past the decoding and the trim."""
    img = Image.open(io.BytesIO(data))
    pixels = _working_copy(normalised(decode_frame(img, data).image))
    h, w = pixels.shape[:2]
    left, top, right, bottom = trimmed_box(pixels)
    if right - left < 8 or bottom - top < 8:
        left, top, right, bottom = 0, 0, w, h
    grey = pixels @ LUMA
    integral = np.zeros((h + 1, w + 1))
    np.cumsum(np.cumsum(grey, axis=0), axis=1, out=integral[1:, 1:])
    grids = _grid_means(integral, (left, top, right, bottom), CELLS, CELLS).astype(np.float32)
    # The analysis computes the whole's 32 x 32 grid already (its pHash): only the object is new work.
    started = time.process_time()
    found = object_on_plain(grey[top:bottom, left:right])
    spent = time.process_time() - started
    signature = Signature(
        whole=quantised(grids[0].astype(np.float64)),
        shape=(bottom - top, right - left),
        aspect=found[0] if found else None,
        object_grid=found[1] if found else None,
    )
    return grids, (bottom - top, right - left), signature, spent


def rules_of(items: list[HashedImage], a: int, b: int, params: ClusterParams) -> list[Rule]:
    """The rules of today's engine that join ``a`` and ``b`` (as the clusterer applies them)."""
    x, y = items[a], items[b]
    # Every image of the set has all its hashes.
    xp, yp, xd, yd = x.phash or 0, y.phash or 0, x.dhash or 0, y.dhash or 0
    xc, yc = x.colorhash or 0, y.colorhash or 0
    found: list[Rule] = []
    colour = hamming(xc, yc) <= 2 and (colorhash_has_colour(xc) or colorhash_has_colour(yc))
    if hamming(xp, yp) <= params.phash_threshold:
        if hamming(xd, yd) <= params.dhash_threshold:
            found.append(Rule("whole, dHash", a, 0, b, 0))
        elif colour:
            found.append(Rule("whole, colour hash", a, 0, b, 0))
    if hamming(mirror_phash(xp), yp) <= params.phash_threshold and (
        hamming(mirror_dhash(xd), yd) <= params.dhash_threshold or colour
    ):
        found.append(Rule("mirrored", a, 0, b, 0, mirrored=True))
    for p, q in ((a, b), (b, a)):
        pp, pd = items[p].region_phashes or (), items[p].region_dhashes or ()
        qp, qd = items[q].region_phashes or (), items[q].region_dhashes or ()
        for region in range(REGION_COUNT):
            if (
                hamming(pp[0], qp[region]) <= (params.region_phash_threshold or 0)
                and hamming(pd[0], qd[region]) <= params.region_dhash_threshold
            ):
                found.append(Rule(f"region: {REGIONS[region].name}", p, 0, q, region))
    if overlay_match(x, y, params):
        found.append(Rule("overlay", a, 0, b, 0))
    return found


def resampled(grid: np.ndarray, region: int, shape: tuple[int, int]) -> np.ndarray:
    """The grid of ``region`` estimated from the whole's grid by bilinear interpolation."""
    h, w = shape
    left, top, right, bottom = _region_box((0, 0, w, h), REGIONS[region])
    centres = (np.arange(CELLS) + 0.5) / CELLS
    xs = (left + centres * (right - left)) / w * CELLS - 0.5
    ys = (top + centres * (bottom - top)) / h * CELLS - 0.5

    def along(values: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
        low = np.clip(np.floor(coords).astype(int), 0, CELLS - 1)
        high = np.clip(low + 1, 0, CELLS - 1)
        weight = np.clip(coords - np.floor(coords), 0, 1)
        shape_ = [1, 1]
        shape_[axis] = -1
        weight = weight.reshape(shape_)
        return np.take(values, low, axis=axis) * (1 - weight) + np.take(values, high, axis=axis) * weight

    return along(along(grid, ys, 0), xs, 1)


def agree(gx: np.ndarray, gy: np.ndarray, levels: float, share: float, blocks: int) -> bool:
    side = CELLS // BLOCKS
    apart = (np.abs(gx - gy) >= levels).reshape(BLOCKS, side, BLOCKS, side).mean(axis=(1, 3))
    return int((apart > share).sum()) <= blocks


def components(keys: Iterable[int], pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    parent = {key: key for key in keys}

    def find(key: int) -> int:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for a, b in pairs:
        parent[find(a)] = find(b)
    return {key: find(key) for key in parent}


def thumbnail_cost(published: list[tuple[int, str, bytes]]) -> None:
    """CPU time to read a stored thumbnail back and grid its trimmed picture, per thumbnail (median of 3 passes)."""
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for number, (_, _, data) in enumerate(published):
            img = Image.open(io.BytesIO(data))
            thumbnail = make_thumbnail(normalised(decode_frame(img, data).image), 320, transparent=False)
            path = Path(folder) / f"{number}.jpg"
            path.write_bytes(thumbnail.data)
            paths.append(path)
        passes = []
        for _ in range(3):
            started = time.process_time()
            for path in paths:
                data = path.read_bytes()
                grids_of(data)
            passes.append((time.process_time() - started) / len(paths))
    per = sorted(passes)[1]
    print(
        f"Thumbnails read back: {len(paths)}, {1000 * per:.2f} ms of CPU each (median of 3 passes: "
        f"{', '.join(f'{1000 * x:.2f}' for x in passes)}); a pair reads two: 10 s of CPU pay for "
        f"{10 / (2 * per):,.0f} pairs whose thumbnails are not already read"
    )


Half = tuple[
    list[HashedImage], dict[int, tuple[int, str]], list[np.ndarray], list[tuple[int, int]], list[Signature], float
]


def hashed_half(pictures: list, chosen: list, thumbnails_only: bool) -> Half:
    """The half's images hashed by the engine, with their grids and signatures (or, for the thumbnail cost, nothing)."""
    items: list[HashedImage] = []
    truth: dict[int, tuple[int, str]] = {}
    grids: list[np.ndarray] = []
    shapes: list[tuple[int, int]] = []
    signatures: list[Signature] = []
    object_cpu = 0.0
    published = [
        (picture, edit, data)
        for picture, edit, data in _repost_set.published(pictures)
        if chosen[picture] is not None and edit != _repost_set.RANDOM_CROP
    ]
    if thumbnails_only:
        thumbnail_cost(published)
        return [], {}, [], [], [], 0.0
    for picture, edit, data in published:
        key = len(items)
        items.append(engine_hashed(key, data))
        truth[key] = (picture, edit)
        grid, shape, signature, spent = grids_of(data)
        grids.append(grid)
        shapes.append(shape)
        signatures.append(signature)
        object_cpu += spent
    return items, truth, grids, shapes, signatures, object_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", action="store_true", help="the held-out half instead of the tuning half")
    parser.add_argument("--thumbnail-cost", action="store_true", help="only the cost of reading thumbnails back")
    parser.add_argument(
        "--cache", type=Path, help="file keeping the half's hashes, grids and pairs between runs (one file a half)"
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"# Confirming near-duplicate matches, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")
    start = time.perf_counter()
    pictures = _repost_set.pictures()
    tuning, held_out = _repost_set.split(pictures)
    half = set(held_out if args.held_out else tuning)
    chosen = [p if i in half else None for i, p in enumerate(pictures)]
    half_name = "held-out" if args.held_out else "tuning"
    if args.cache and args.cache.exists():
        with args.cache.open("rb") as cached:
            stored_half, items, truth, grids, shapes, signatures, object_cpu, edges = pickle.load(cached)
        if stored_half != half_name:
            parser.error(f"{args.cache} keeps the {stored_half} half")
    else:
        items, truth, grids, shapes, signatures, object_cpu = hashed_half(pictures, chosen, args.thumbnail_cost)
        if not items:
            return
        params = ClusterParams()
        clusterer = NearDuplicateClusterer(params)
        clusterer.add(items)
        edges = [(a, b, rules_of(items, a, b, params)) for a, b, _, _ in clusterer.edge_details()]
        if args.cache:
            with args.cache.open("wb") as cached:
                pickle.dump((half_name, items, truth, grids, shapes, signatures, object_cpu, edges), cached)
    keys = list(range(len(items)))
    print(
        f"{'held-out' if args.held_out else 'tuning'} half: {len(half)} pictures, {len(items)} images "
        f"(built and hashed in {time.perf_counter() - start:.0f} s)\n"
    )
    plain = sum(sig.aspect is not None for sig in signatures)
    print(
        f"Objects on a plain background: {plain} images of {len(items)} "
        f"({', '.join(sorted({pictures[truth[k][0]].source for k in keys if signatures[k].aspect is not None}))}); "
        f"finding them took {1000 * object_cpu / len(items):.3f} ms of CPU per image\n"
    )
    print(f"Confirmed pairs: {len(edges)} ({len(edges) / len(items):.1f} per image)\n")

    by_rule: Counter = Counter()
    by_kind: Counter = Counter()
    for a, b, rules in edges:
        if truth[a][0] == truth[b][0]:
            continue
        names = sorted({rule.name if not rule.name.startswith("region") else "region" for rule in rules})
        by_rule[" + ".join(names) or "none"] += 1
        kinds = sorted(pictures[truth[k][0]].source.removeprefix("more ").rstrip("s") for k in (a, b))
        by_kind[" / ".join(kinds)] += 1
    print("## Confirmed pairs of two different pictures, by the rules that join them\n")
    print(table(("rules", "pairs"), [(name, str(n)) for name, n in by_rule.most_common()]))
    print()
    print(table(("pictures", "pairs"), [(name, str(n)) for name, n in by_kind.most_common()]))
    print()

    def region_grid(rule: Rule, source: str) -> tuple[np.ndarray, np.ndarray] | None:
        gx = grids[rule.a][rule.ra]
        if source == "own":
            gy = grids[rule.b][rule.rb]
        elif source == "whole rules only":
            if rule.rb != 0:
                return None
            gy = grids[rule.b][0]
        else:
            gy = grids[rule.b][0] if rule.rb == 0 else resampled(grids[rule.b][0], rule.rb, shapes[rule.b])
        return (gx[:, ::-1] if rule.mirrored else gx), gy

    def coarse_agree(rule: Rule, levels: int, cells: int) -> bool:
        """8 x 8 cells of each compared region at 4 bits: at most ``cells`` of them ``levels`` apart or more."""
        side = CELLS // COARSE
        gx, gy = (
            np.floor(grids[key][region].reshape(COARSE, side, COARSE, side).mean(axis=(1, 3)) / 16) * 16
            for key, region in ((rule.a, rule.ra), (rule.b, rule.rb))
        )
        if rule.mirrored:
            gx = gx[:, ::-1]
        return int((np.abs(gx - gy) >= levels).sum()) <= cells

    variants: list[tuple[str, Callable[[Rule], bool]]] = [("today's rules", lambda rule: True)]
    for source in ("own", "whole rules only", "resampled"):
        for levels, share, blocks in ((24, 0.06, 3), (16, 0.1, 3), (24, 0.1, 2)):

            def confirmed(rule: Rule, source: str = source, cfg: tuple = (levels, share, blocks)) -> bool:
                pair = region_grid(rule, source)
                return True if pair is None else agree(*pair, *cfg)

            variants.append((f"grids, {source}: {levels} levels, {share:.0%} of a block, {blocks} blocks", confirmed))
    for levels, cells in ((16, 2), (16, 6), (24, 4)):

        def coarse(rule: Rule, levels: int = levels, cells: int = cells) -> bool:
            return coarse_agree(rule, levels, cells)

        variants.append((f"8 x 8 grids at 4 bits, own: {levels} levels, {cells} cells", coarse))

    def stored_region(key: int, region: int) -> np.ndarray:
        h, w = shapes[key]
        left, top, right, bottom = _region_box((0, 0, w, h), REGIONS[region])
        return by_area(signatures[key].whole, (left / w, top / h, right / w, bottom / h))

    def stored_agree(rule: Rule, levels: int, share: float, blocks: int) -> bool:
        gx, gy = stored_region(rule.a, rule.ra), stored_region(rule.b, rule.rb)
        if rule.mirrored:
            gx = gx[:, ::-1]
        return blocks_apart(np.abs(gx - gy) >= levels, share) <= blocks

    def object_agree(rule: Rule, levels: int, blocks: int, aspect: float) -> bool:
        x, y = signatures[rule.a], signatures[rule.b]
        if x.aspect is None or y.aspect is None or x.object_grid is None or y.object_grid is None:
            return False
        if abs(math.log(x.aspect / y.aspect)) > aspect:
            return False
        gx = x.object_grid[:, ::-1] if rule.mirrored else x.object_grid
        return blocks_apart(shift_tolerant(gx, y.object_grid) >= levels, 0.06) <= blocks

    def own_16(rule: Rule) -> bool:
        gx, gy = (
            grids[key][region].reshape(16, 2, 16, 2).mean(axis=(1, 3))
            for key, region in ((rule.a, rule.ra), (rule.b, rule.rb))
        )
        if rule.mirrored:
            gx = gx[:, ::-1]
        return blocks_apart(np.abs(gx - gy) >= 16, 0.06) <= 3

    def fine_region(key: int, region: int) -> np.ndarray:
        """The region's 16 x 16 grid by area from the whole's grid stored at 8 bits (1,024 bytes)."""
        h, w = shapes[key]
        left, top, right, bottom = _region_box((0, 0, w, h), REGIONS[region])
        return by_area(np.round(grids[key][0].astype(np.float64)), (left / w, top / h, right / w, bottom / h))

    def compared(rule: Rule, fine: bool) -> tuple[np.ndarray, np.ndarray]:
        region = fine_region if fine else stored_region
        gx, gy = region(rule.a, rule.ra), region(rule.b, rule.rb)
        return (gx[:, ::-1] if rule.mirrored else gx), gy

    def object_blocks(rule: Rule) -> int | None:
        """Blocks off between the two objects' grids, None when the pair has no comparable objects."""
        x, y = signatures[rule.a], signatures[rule.b]
        if x.aspect is None or y.aspect is None or x.object_grid is None or y.object_grid is None:
            return None
        if abs(math.log(x.aspect / y.aspect)) > 0.05:
            return None
        gx = x.object_grid[:, ::-1] if rule.mirrored else x.object_grid
        return blocks_apart(shift_tolerant(gx, y.object_grid) >= 24, 0.06)

    # Each rule's measures, once: blocks off on the 4-bit grid (16 levels, 6 %), on the 8-bit grid, the
    # level-free distance (8-bit grid, 3 blocks left out), the objects' blocks off.
    measures: dict[Rule, tuple[int, int, float, int | None]] = {}
    started = time.process_time()
    for _, _, rules in edges:
        for rule in rules:
            coarse_x, coarse_y = compared(rule, fine=False)
            fine_x, fine_y = compared(rule, fine=True)
            measures[rule] = (
                blocks_apart(np.abs(coarse_x - coarse_y) >= 16, 0.06),
                blocks_apart(np.abs(fine_x - fine_y) >= 16, 0.06),
                level_free_distance(fine_x, fine_y, 3),
                object_blocks(rule),
            )
    measure_cpu = time.process_time() - started
    rule_count = len(measures)

    def gated(rule: Rule, blocks: int, distance: float, fine: bool = False) -> bool:
        coarse_off, fine_off, level_free, object_off = measures[rule]
        if (fine_off if fine else coarse_off) <= blocks and level_free <= distance:
            return True
        return object_off is not None and object_off <= 3

    for blocks, distance in ((4, 4.5), (CHOSEN_BLOCKS, CHOSEN_DISTANCE), (4, 6.0), (5, 5.0), (5, 6.0), (6, 5.0)):

        def with_gate(rule: Rule, cfg: tuple = (blocks, distance)) -> bool:
            return gated(rule, *cfg)

        chosen_mark = " (chosen)" if (blocks, distance) == (CHOSEN_BLOCKS, CHOSEN_DISTANCE) else ""
        variants.append(
            (
                f"stored 8-bit whole grid: at most {blocks} blocks off (4-bit levels) and the level-free distance "
                f"at most {distance} levels, or the object{chosen_mark}",
                with_gate,
            )
        )
    variants.append(
        (
            f"the same, blocks off on the 8-bit grid: {CHOSEN_BLOCKS} blocks, {CHOSEN_DISTANCE} levels, or the object",
            lambda rule: gated(rule, CHOSEN_BLOCKS, CHOSEN_DISTANCE, fine=True),
        )
    )

    variants.append(("within one picture only (the ceiling)", lambda rule: truth[rule.a][0] == truth[rule.b][0]))
    variants.append(("16 x 16 grids of every region, own: 16 levels, 6 % of a block, 3 blocks", own_16))
    for levels, share, blocks in ((16, 0.06, 3), (16, 0.06, 4), (16, 0.1, 3)):

        def stored(rule: Rule, cfg: tuple = (levels, share, blocks)) -> bool:
            return stored_agree(rule, *cfg)

        variants.append((f"stored whole grid, regions by area: {levels} levels, {share:.0%}, {blocks} blocks", stored))
    for levels, blocks, aspect in ((24, 0, 0.05), (24, 1, 0.05), (20, 0, 0.05), (28, 0, 0.05), (24, 3, 0.05)):

        def with_object(rule: Rule, cfg: tuple = (levels, blocks, aspect)) -> bool:
            return stored_agree(rule, 16, 0.06, 4) or object_agree(rule, *cfg)

        variants.append(
            (
                f"stored whole grid (16, 6 %, 4) or the object: {levels} levels, {blocks} blocks, aspect {aspect:.0%}",
                with_object,
            )
        )
    rows = []
    notes = []
    today: dict[int, int] = {}
    ceiling: dict[int, int] = {}
    for name, check in variants:
        kept = [(a, b) for a, b, rules in edges if any(check(rule) for rule in rules)]
        labels = components(keys, kept)
        recall, true, predicted, confusions = pair_scores(keys, truth, labels)
        today = today or labels
        if name.startswith("within one picture"):
            ceiling = labels
        original = {truth[key][0]: key for key in keys if truth[key][1] == "original"}
        # Copies lost against today's rules, and (after the ceiling's row) against the ceiling.
        reference = ceiling or today
        lost = Counter(
            pictures[truth[key][0]].name
            for key in keys
            if reference[key] == reference[original[truth[key][0]]] and labels[key] != labels[original[truth[key][0]]]
        )
        row = [name, f"{true / predicted:.4f} ({predicted - true} false)"]
        row += [f"{found}/{total}" for found, total in recall.values()]
        rows.append(tuple(row))
        worst = ", ".join(f"{pictures[a].name} + {pictures[b].name} ({n})" for (a, b), n in confusions.most_common(6))
        missed = ", ".join(f"{name_} ({n})" for name_, n in sorted(lost.items()))
        notes.append(f"* {name}: {worst or 'none'}; copies lost: {missed or 'none'}")
    header = ("confirmation", "pairwise precision", *pair_scores(keys, truth, {key: key for key in keys})[0])
    print("## Recall per edit and precision, pairs kept when one of their rules is confirmed\n")
    print(table(header, rows))
    print(
        "\nConfusions (pairs of images) and copies no longer with their original, by picture (against today's rules"
        " until the ceiling's row, against the ceiling from there on):\n"
    )
    print("\n".join(notes))

    # Margins: each pair's best score over its rules, for pairs of one picture (true) and of two (false).
    print("\n## Scores of the confirmed pairs: how far the false pairs are from the true ones\n")
    scores: list[tuple[str, bool, Callable[[Rule], float]]] = [
        (
            "block correlation, mean of the 12 most alike blocks",
            True,
            lambda r: float(np.sort(block_likeness(*compared(r, fine=True)))[BLOCKS:].mean()),
        ),
        (
            "block correlation, the 4th least alike block",
            True,
            lambda r: float(np.sort(block_likeness(*compared(r, fine=True)))[3]),
        ),
        (
            "correlation pooled over the blocks, 3 least alike left out",
            True,
            lambda r: pooled_likeness(*compared(r, fine=True), 3),
        ),
        ("level-free distance, 4th most different block", False, lambda r: measures[r][2]),
        ("gradient distance, 4th most different block", False, lambda r: gradient_distance(*compared(r, fine=True), 3)),
        ("blocks off (16 levels, 6 %, 4-bit grid)", False, lambda r: float(measures[r][0])),
    ]
    margin_rows = []
    for name, higher, score in scores:
        sign = 1.0 if higher else -1.0
        best = [max(sign * score(rule) for rule in rules) * sign if rules else float("nan") for _, _, rules in edges]
        same = [v for (a, b, _), v in zip(edges, best, strict=True) if truth[a][0] == truth[b][0]]
        false = [v for (a, b, _), v in zip(edges, best, strict=True) if truth[a][0] != truth[b][0]]
        edge = max(false) if higher else min(false)
        past = sum((v <= edge) if higher else (v >= edge) for v in same)
        kept = [(a, b) for (a, b, _), v in zip(edges, best, strict=True) if (v > edge if higher else v < edge)]
        recall, true, predicted, _ = pair_scores(keys, truth, components(keys, kept))
        margin_rows.append(
            (
                name,
                "higher" if higher else "lower",
                spread(false),
                spread(same),
                f"{past}/{len(same)}",
                f"{true / max(predicted, 1):.4f} " + " ".join(f"{f}/{t}" for f, t in recall.values()),
            )
        )
    print(
        table(
            (
                "score (16 x 16 grids of the compared regions from the stored whole grid)",
                "alike when",
                "false pairs: min / 1 / 5 / 10 / 50 / 90 / 99 % / max",
                "true pairs: same",
                "true pairs at or past the nearest false one",
                "cut just past the nearest false pair: precision, recall per edit",
            ),
            margin_rows,
        )
    )
    print("\nThe chosen gates, two measures at once (false and true pairs by their fewest blocks off):\n")
    grid_rows = []
    for off in range(0, 9):
        row = [str(off)]
        for want in (False, True):
            values = [
                min(measures[rule][2] for rule in rules if measures[rule][0] == off)
                for a, b, rules in edges
                if rules and (truth[a][0] == truth[b][0]) == want and min(measures[r][0] for r in rules) == off
            ]
            row.append(f"{len(values)}: {spread(values)}" if values else "0")
        grid_rows.append(tuple(row))
    print(
        table(
            (
                "blocks off",
                "false pairs: count, level-free distance min / 1 / 5 / 10 / 50 / 90 / 99 % / max",
                "true pairs: same",
            ),
            grid_rows,
        )
    )
    objects = [
        min(off for off in (measures[r][3] for r in rules) if off is not None)
        for a, b, rules in edges
        if truth[a][0] != truth[b][0] and any(measures[r][3] is not None for r in rules)
    ]
    print(
        f"\nFalse pairs with comparable objects: {len(objects)}, fewest object blocks off "
        f"{min(objects) if objects else '-'} (accepted at 3 or fewer): {Counter(objects).most_common()}"
    )
    print(
        f"\nCPU of the measures: {1e6 * measure_cpu / max(rule_count, 1):.0f} us per joining rule "
        f"({rule_count} rules of {len(edges)} confirmed pairs; both grids by area, blocks off twice, the "
        f"level-free distance, the objects), one core, load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
