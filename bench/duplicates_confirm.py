"""Benchmark: which rule joins the false pairs of the reposting set, and what a finer luminance grid would confirm.

    .venv/bin/python bench/duplicates_confirm.py              # the tuning half (a few minutes)
    .venv/bin/python bench/duplicates_confirm.py --held-out   # the held-out half: once, for a rule adopted

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

Nothing here is a rule of the engine: the measures say what such a rule would do.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
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

CELLS = 32
BLOCKS = 4
COARSE = 8
LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class Rule:
    """One rule joining a pair: region ``ra`` of image ``a`` against region ``rb`` of image ``b``."""

    name: str
    a: int
    ra: int
    b: int
    rb: int
    mirrored: bool = False


def grids_of(data: bytes) -> tuple[np.ndarray, tuple[int, int]]:
    """The 32 x 32 grey grids of every region of the trimmed picture, and the trimmed box's (height, width)."""
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
    return grids, (bottom - top, right - left)


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


def components(keys: list[int], pairs: list[tuple[int, int]]) -> dict[int, int]:
    parent = {key: key for key in keys}

    def find(key: int) -> int:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for a, b in pairs:
        parent[find(a)] = find(b)
    return {key: find(key) for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", action="store_true", help="the held-out half instead of the tuning half")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"# Confirming near-duplicate matches, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")
    start = time.perf_counter()
    pictures = _repost_set.pictures()
    tuning, held_out = _repost_set.split(pictures)
    half = set(held_out if args.held_out else tuning)
    chosen = [p if i in half else None for i, p in enumerate(pictures)]
    items: list[HashedImage] = []
    truth: dict[int, tuple[int, str]] = {}
    grids: list[np.ndarray] = []
    shapes: list[tuple[int, int]] = []
    for picture, edit, data in _repost_set.published(pictures):
        if chosen[picture] is None or edit == _repost_set.RANDOM_CROP:
            continue
        key = len(items)
        items.append(engine_hashed(key, data))
        truth[key] = (picture, edit)
        grid, shape = grids_of(data)
        grids.append(grid)
        shapes.append(shape)
    keys = list(range(len(items)))
    print(
        f"{'held-out' if args.held_out else 'tuning'} half: {len(half)} pictures, {len(items)} images "
        f"(built and hashed in {time.perf_counter() - start:.0f} s)\n"
    )
    params = ClusterParams()
    clusterer = NearDuplicateClusterer(params)
    clusterer.add(items)
    edges = [(a, b, rules_of(items, a, b, params)) for a, b, _, _ in clusterer.edge_details()]

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
    rows = []
    notes = []
    today: dict[int, int] = {}
    for name, check in variants:
        kept = [(a, b) for a, b, rules in edges if any(check(rule) for rule in rules)]
        labels = components(keys, kept)
        recall, true, predicted, confusions = pair_scores(keys, truth, labels)
        today = today or labels
        original = {truth[key][0]: key for key in keys if truth[key][1] == "original"}
        lost = Counter(
            pictures[truth[key][0]].name
            for key in keys
            if today[key] == today[original[truth[key][0]]] and labels[key] != labels[original[truth[key][0]]]
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
    print("\nConfusions (pairs of images) and copies no longer with their original, by picture:\n")
    print("\n".join(notes))


if __name__ == "__main__":
    main()
