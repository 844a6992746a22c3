"""Benchmark: near-duplicate clustering, accuracy on edited copies of real photos and speed at scale.

    .venv/bin/python bench/duplicates.py           # the full run (about a minute)
    .venv/bin/python bench/duplicates.py --quick   # fewer pictures, 10,000 hashes only
    .venv/bin/python bench/duplicates.py --repost-only --repost-cache /tmp/repost.pkl
                                                   # keep the reposting set's hashes between runs
    .venv/bin/python bench/duplicates.py --quick --hasher engine --side 1024 --no-speed
                                                   # the engine's own hashes of large JPEGs

Accuracy. scikit-learn's two sample photos (china.jpg, flower.jpg) are cut into
distinct pictures: rectangles of 48-320 px at random places, kept only when they
overlap no other kept rectangle of the same photo by more than 30 % (intersection
over union) and are not flat (grey-level standard deviation >= 20), each resized to
256 px on its long side and published as a JPEG (quality 90). Two sets: "detailed"
also asks each quarter of the rectangle to have some detail (standard deviation
>= 10), which a web picture has; "with near-flat crops" does not, and keeps pictures
of sky or of blurred background with a detail in a corner: hard negatives. Every picture gets six
edited copies, each decoded from the published original and published again: half
size, JPEG quality 50, 5 % crop (2.5 % off each side), greyscale, a caption written
with Pillow's default font, left-right mirror. pHash, dHash and colour hash come
from imagehash on the decoded files (``--hasher engine``: from ``analyse_image``, as
media rows store them; with ``--side`` of 400 or more the engine decodes the JPEGs
at reduced DCT scale). The truth: a copy and its original (and copies
of one picture between them) are the same picture, any two pictures are not.
Precision and recall are those of pairwise co-clustering.

Reposting (run first; ``--repost-only`` runs nothing else). The set of bench/_repost_set.py: pictures from
scikit-image, scikit-learn and generated scenes, product shots and screenshots, at web
and camera sizes, each republished with eleven edits (frames, crops, a random one-sided
crop, mirror, resize, q50, greyscale, caption, watermark). Hashed by the engine
(``analyse_image``), as media rows store them. Reported for the tuning half and the
held-out half separately: recall per edit (the copy is in its original's cluster) and
pairwise precision over every image of the half, before (whole-image hashes only), with
the rules of analysis version 4 (region hashes; no overlay rule, colourless colour hashes
confirming) and now; then the confusion cases (pairs of different pictures put together).

Speed. Synthetic hashes as stored on media rows (hex): random 64-bit pHash and dHash
and 42-bit colour hash, 90 % unique images and 10 % in planted groups of 2-6 copies
of a base image (0-5 pHash bits and 0-8 dHash bits flipped, colour hash kept). Timed:
hex parsing, then clustering from scratch to the list of clusters, pinned to one
core, median of several runs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

import imagehash  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.datasets import load_sample_image  # noqa: E402

from media_analysis.engine.duplicates.clusterer import ClusterParams, NearDuplicateClusterer  # noqa: E402
from media_analysis.engine.duplicates.hashes import HashArrays, HashedImage  # noqa: E402
from media_analysis.engine.duplicates.index import HammingIndex  # noqa: E402
from media_analysis.engine.image import AnalysisOptions, analyse_image  # noqa: E402
from media_analysis.engine.image.regions import REGION_COUNT, RegionHashes  # noqa: E402
from tests.support.photo_edits import EDITS as SHARED_EDITS  # noqa: E402

R = TypeVar("R")

HASHER = "imagehash"  # or "engine"; set from the command line

PICTURE_SIDE = 256  # long side of a picture; --side changes it
MAX_OVERLAP = 0.3
MIN_GREY_STD = 20.0
MIN_QUARTER_STD = 10.0


# --- the picture set -------------------------------------------------------------


def _overlaps(box: tuple[int, int, int, int], kept: np.ndarray) -> bool:
    if not len(kept):
        return False
    x0, y0, x1, y1 = box
    iw = np.clip(np.minimum(x1, kept[:, 2]) - np.maximum(x0, kept[:, 0]), 0, None)
    ih = np.clip(np.minimum(y1, kept[:, 3]) - np.maximum(y0, kept[:, 1]), 0, None)
    inter = iw * ih
    union = (x1 - x0) * (y1 - y0) + (kept[:, 2] - kept[:, 0]) * (kept[:, 3] - kept[:, 1]) - inter
    return bool((inter / union > MAX_OVERLAP).any())


def _flat(grey: np.ndarray, detailed: bool) -> bool:
    if grey.std() < MIN_GREY_STD:
        return True
    if not detailed:
        return False
    h, w = grey.shape
    quarters = (grey[: h // 2, : w // 2], grey[: h // 2, w // 2 :], grey[h // 2 :, : w // 2], grey[h // 2 :, w // 2 :])
    return min(q.std() for q in quarters) < MIN_QUARTER_STD


def distinct_pictures(
    tries_per_photo: int, detailed: bool, seed: int = 7, side: int = PICTURE_SIDE
) -> list[Image.Image]:
    rng = random.Random(seed)
    pictures = []
    for name in ("china.jpg", "flower.jpg"):
        photo = Image.fromarray(load_sample_image(name))
        grey = np.asarray(photo.convert("L"), dtype=np.float32)
        width, height = photo.size
        kept = np.empty((0, 4), dtype=np.int64)
        for _ in range(tries_per_photo):
            w = rng.randint(48, 320)
            h = int(w * rng.uniform(0.6, 1.6))
            if w > width or h > height:
                continue
            x, y = rng.randint(0, width - w), rng.randint(0, height - h)
            box = (x, y, x + w, y + h)
            if _overlaps(box, kept) or _flat(grey[y : y + h, x : x + w], detailed):
                continue
            kept = np.vstack([kept, box])
            scale = side / max(w, h)
            crop = photo.crop(box).resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS)
            pictures.append(crop)
    return pictures


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# The republishing edits the tests use, under the names this report prints.
LABELS = {"half": "half size", "jpeg50": "JPEG q50", "crop5": "crop 5 %", "grey": "greyscale",
          "caption": "caption", "mirror": "mirror"}  # fmt: skip
EDITS: dict[str, Callable[[Image.Image], tuple[Image.Image, int]]] = {
    LABELS[name]: apply for name, apply in SHARED_EDITS.items()
}


def engine_hashed(key: int, data: bytes) -> HashedImage:
    """The image as the engine's analysis hashes it, region hashes included."""
    return HashedImage.from_analysis(key, analyse_image(data, AnalysisOptions(colors=False, exif=False)))


def hashed(key: int, data: bytes) -> HashedImage:
    if HASHER == "engine":
        result = analyse_image(data, AnalysisOptions(colors=False, exif=False))
        return HashedImage.from_hex(
            key, sha256=result.image_hash, phash=result.phash, dhash=result.dhash, colorhash=result.colorhash
        )
    image = _decode(data)
    return HashedImage.from_hex(
        key,
        sha256=hashlib.sha256(data).hexdigest(),
        phash=str(imagehash.phash(image)),
        dhash=str(imagehash.dhash(image)),
        colorhash=str(imagehash.colorhash(image)),
    )


def edited_set(pictures: list[Image.Image]) -> tuple[list[HashedImage], dict[int, tuple[int, str]]]:
    """Originals and their copies; truth maps key -> (picture, edit)."""
    items: list[HashedImage] = []
    truth: dict[int, tuple[int, str]] = {}
    for index, picture in enumerate(pictures):
        data = _jpeg(picture)
        key = len(items)
        items.append(hashed(key, data))
        truth[key] = (index, "original")
        original = _decode(data)
        for edit, apply in EDITS.items():
            image, quality = apply(original)
            key = len(items)
            items.append(hashed(key, _jpeg(image, quality)))
            truth[key] = (index, edit)
    return items, truth


# --- accuracy ----------------------------------------------------------------------


def pair_counts(clusters: list[list[int]], truth: dict[int, tuple[int, str]], edits: set[str]) -> Counter:
    """Co-clustered pairs among images whose edit is in ``edits`` ("original" included): all and true."""
    counts: Counter = Counter()
    for cluster in clusters:
        members = [key for key in cluster if truth[key][1] in edits]
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                same = truth[a][0] == truth[b][0]
                counts["predicted"] += 1
                counts["true"] += same
                for edit in {truth[a][1], truth[b][1]} - {"original"}:
                    counts[f"predicted:{edit}"] += 1
                    counts[f"true:{edit}"] += same
                if same and "original" in (truth[a][1], truth[b][1]):
                    counts[f"found:{truth[a][1] if truth[a][1] != 'original' else truth[b][1]}"] += 1
    return counts


def accuracy(items, truth, params: ClusterParams, targeted: set[str]) -> dict[str, tuple[float, float, int]]:
    """Per edit and overall: (precision, recall, pairs); the overall row counts targeted edits only."""
    clusterer = NearDuplicateClusterer(params)
    clusterer.add(items)
    clusters = clusterer.clusters()
    pictures = len({picture for picture, _ in truth.values()})
    everything = pair_counts(clusters, truth, {"original", *EDITS})
    rows = {}
    for edit in EDITS:
        predicted = everything[f"predicted:{edit}"]
        precision = everything[f"true:{edit}"] / predicted if predicted else 1.0
        rows[edit] = (precision, everything[f"found:{edit}"] / pictures, pictures)
    aimed = pair_counts(clusters, truth, {"original", *targeted})
    truth_pairs = pictures * (len(targeted) + 1) * len(targeted) // 2
    rows["targeted edits"] = (
        aimed["true"] / aimed["predicted"] if aimed["predicted"] else 1.0,
        aimed["true"] / truth_pairs,
        truth_pairs,
    )
    all_pairs = pictures * (len(EDITS) + 1) * len(EDITS) // 2
    rows["all edits"] = (
        everything["true"] / everything["predicted"] if everything["predicted"] else 1.0,
        everything["true"] / all_pairs,
        all_pairs,
    )
    return rows


# --- speed -------------------------------------------------------------------------


def _region_hex(rng: random.Random, base: list[int] | None = None) -> str:
    """Random region hashes (a planted copy: its base's with one bit flipped in each)."""
    if base:
        values = [v ^ (1 << rng.randrange(64)) for v in base]
    else:
        values = [rng.getrandbits(64) for _ in range(2 * REGION_COUNT)]
    return RegionHashes(box=(0, 0, 1000, 1000), hashes=tuple(zip(values[::2], values[1::2], strict=True))).hex()


def synthetic_rows(n: int, seed: int) -> list[tuple[int, str, str, str, str]]:
    """(key, pHash hex, dHash hex, colour hash hex, region hashes) rows: 90 % unique, 10 % in planted groups."""
    rng = random.Random(seed)
    rows = []
    singles = int(n * 0.9)
    for key in range(singles):
        rows.append(
            (
                key,
                f"{rng.getrandbits(64):016x}",
                f"{rng.getrandbits(64):016x}",
                f"{rng.getrandbits(42):011x}",
                _region_hex(rng),
            )
        )
    while len(rows) < n:
        p, d, c = rng.getrandbits(64), rng.getrandbits(64), f"{rng.getrandbits(42):011x}"
        regions = [rng.getrandbits(64) for _ in range(2 * REGION_COUNT)]
        for copy in range(min(rng.randint(2, 6), n - len(rows))):
            cp, cd = p, d
            if copy:
                for bit in rng.sample(range(64), rng.randint(0, 5)):
                    cp ^= 1 << bit
                for bit in rng.sample(range(64), rng.randint(0, 8)):
                    cd ^= 1 << bit
            rows.append((len(rows), f"{cp:016x}", f"{cd:016x}", c, _region_hex(rng, regions)))
    return rows


def planted_groups(rows: list[tuple[int, str, str, str, str]], n: int) -> int:
    return len({c for key, _, _, c, _ in rows if key >= int(n * 0.9)})


def stored_columns(rows) -> HashArrays:
    """The rows' hashes parsed a column at a time, as the clusters service reads a land."""
    keys, phashes, dhashes, colorhashes, regions = (list(column) for column in zip(*rows, strict=True))
    return HashArrays.from_stored(keys, [None] * len(keys), phashes, dhashes, colorhashes, regions)


def cluster_rows(rows, params: ClusterParams, per_item: bool = False) -> NearDuplicateClusterer:
    """Parse and cluster ``rows``: as columns, or (``per_item``) one :class:`HashedImage` per row."""
    clusterer = NearDuplicateClusterer(params)
    if per_item:
        clusterer.add(
            HashedImage.from_hex(key, phash=p, dhash=d, colorhash=c, region_hashes=r) for key, p, d, c, r in rows
        )
    else:
        clusterer.add(stored_columns(rows))
    clusterer.clusters()
    return clusterer


def timed(function: Callable[..., R], runs: int, setup: Callable[[], object] | None = None) -> tuple[float, float, R]:
    """Median wall-clock and CPU seconds over ``runs`` calls, and the last result.

    ``setup`` (untimed) prepares the argument given to ``function`` for each run. CPU
    time is shown too because the machine may be shared: it is what one core spent.
    """
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        argument = setup() if setup else None
        wall, cpu = time.perf_counter(), time.process_time()
        result = function(argument) if setup else function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def brute_force_pairs(rows, threshold: int) -> int:
    """All-pairs pHash comparison with numpy, the reference the index avoids."""
    values = np.array([int(p, 16) for _, p, _, _, _ in rows], dtype=np.uint64)
    found = 0
    for start in range(0, len(values), 256):
        block = values[start : start + 256]
        distances = np.bitwise_count(block[:, None] ^ values[None, :])
        found += int((distances <= threshold).sum())
    return (found - len(values)) // 2


def incremental(base: NearDuplicateClusterer, extra: list[HashedImage]) -> NearDuplicateClusterer:
    base.add(extra)
    base.clusters()
    return base


def speed(sizes: list[int], runs: int) -> list[tuple[str, ...]]:
    lines: list[tuple[str, ...]] = []
    for n in sizes:
        rows = synthetic_rows(n, seed=n)
        planted = planted_groups(rows, n)
        reference = None
        for label, params in (
            ("regions and mirrors on", ClusterParams()),
            ("regions off", ClusterParams(region_phash_threshold=None)),
            ("regions and mirrors off", ClusterParams(mirrors=False, region_phash_threshold=None)),
        ):
            wall, cpu, clusterer = timed(lambda rows=rows, params=params: cluster_rows(rows, params), runs)
            clusters = clusterer.clusters()
            reference = reference or clusters
            exact = len(clusters) == planted and all(min(c) >= int(n * 0.9) for c in clusters)
            result = f"{len(clusters):,} clusters ({planted:,} planted), exact: {'yes' if exact else 'no'}"
            lines.append((f"{n:,}", f"cluster from scratch, {label}", f"{wall:.2f} s", f"{cpu:.2f} s", result))
        extra = [
            HashedImage.from_hex(key, phash=p, dhash=d, colorhash=c, region_hashes=r)
            for key, p, d, c, r in rows[n - 1000 :]
        ]
        head = rows[: n - 1000]
        wall, cpu, grown = timed(
            partial(incremental, extra=extra),
            runs,
            setup=partial(cluster_rows, head, ClusterParams()),
        )
        same = "yes" if grown.clusters() == reference else "no"
        lines.append(
            (
                f"{n - 1000:,} + 1,000",
                "add 1,000 to a clustering, regions and mirrors on",
                f"{wall:.2f} s",
                f"{cpu:.2f} s",
                f"same clusters as from scratch: {same}",
            )
        )
        # One run at 100,000: the point is the order of magnitude, and it is the slow part.
        brute_runs = runs if n <= 10_000 else 1
        wall, cpu, pairs = timed(lambda rows=rows: brute_force_pairs(rows, 10), brute_runs)
        lines.append(
            (
                f"{n:,}",
                f"all-pairs pHash comparison (numpy), for reference ({brute_runs} run{'s' if brute_runs > 1 else ''})",
                f"{wall:.2f} s",
                f"{cpu:.2f} s",
                f"{pairs:,} pairs within 10 bits",
            )
        )
    return lines


def bk_tree_comparison(n: int = 20_000, queries: int = 200, radius: int = 10) -> list[tuple[str, ...]]:
    """Why not a BK-tree: share of the tree a radius-10 query visits, against the index's cost."""
    rng = random.Random(5)
    values = [rng.getrandbits(64) for _ in range(n)]
    root: list = [values[0], {}]
    for value in values[1:]:
        node = root
        while True:
            d = (value ^ node[0]).bit_count()
            child = node[1].get(d)
            if child is None:
                node[1][d] = [value, {}]
                break
            node = child
    probes = values[:queries]
    start = time.process_time()
    visited = 0
    for probe in probes:
        stack = [root]
        while stack:
            node = stack.pop()
            visited += 1
            d = (probe ^ node[0]).bit_count()
            stack.extend(child for edge, child in node[1].items() if d - radius <= edge <= d + radius)
    bk_seconds = (time.process_time() - start) / queries
    index = HammingIndex(radius)
    index.add_many(range(n), values)
    index.query(probes[0])  # builds the tables
    start = time.process_time()
    for probe in probes:
        index.query(probe)
    index_seconds = (time.process_time() - start) / queries
    return [
        (
            f"BK-tree (pure Python), {n:,} random hashes",
            f"{visited / queries / n:.0%} of the nodes",
            f"{bk_seconds * 1e3:.2f} ms",
        ),
        ("HammingIndex, same hashes", "probes 4 tables of 16-bit substrings", f"{index_seconds * 1e3:.2f} ms"),
    ]


# --- report ------------------------------------------------------------------------


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


VARIANTS: list[tuple[str, ClusterParams]] = [
    ("default (pHash 10, dHash 12, colour 2, mirrors)", ClusterParams()),
    ("colour hash 6", ClusterParams(colorhash_threshold=6)),
    ("dHash only (colour hash off)", ClusterParams(colorhash_threshold=None)),
    ("pHash alone (no confirmation)", ClusterParams(dhash_threshold=64)),
    ("mirrors off", ClusterParams(mirrors=False)),
    ("pHash 8", ClusterParams(phash_threshold=8)),
    ("pHash 12", ClusterParams(phash_threshold=12)),
]


def accuracy_report(title: str, items, truth) -> None:
    pictures = len({picture for picture, _ in truth.values()})
    print(f"## {title}: {pictures} pictures, {len(items)} images\n")
    rows = accuracy(items, truth, ClusterParams(), set(EDITS))
    print(
        table(
            ("edit", "precision", "recall", "truth pairs"),
            [(name, f"{p:.2%}", f"{r:.2%}", f"{n:,}") for name, (p, r, n) in rows.items()],
        )
    )
    print()
    summary = []
    for name, params in VARIANTS:
        targeted = set(EDITS) if params.mirrors else set(EDITS) - {"mirror"}
        rows = accuracy(items, truth, params, targeted)
        precision, recall, _ = rows["targeted edits"]
        summary.append(
            (
                name,
                f"{precision:.2%}",
                f"{recall:.2%}",
                f"{rows['crop 5 %'][1]:.2%}",
                f"{rows['mirror'][1]:.2%}",
                f"{rows['all edits'][1]:.2%}",
            )
        )
    print(
        table(
            ("variant", "precision", "recall, targeted", "recall, crop", "recall, mirror", "recall, all edits"), summary
        )
    )
    print()


def repost_items(
    cache: Path | None = None,
) -> tuple[list[HashedImage], list[tuple[int, str]], list, tuple[list[int], list[int]]]:
    """The reposting set hashed by the engine: items, (picture, edit) by key, pictures, split.

    With ``cache``, the hashes are read from that file when it exists and written to it
    otherwise, so that rules can be compared again without hashing the set again.
    """
    from bench import _repost_set

    pictures = _repost_set.pictures()
    items: list[HashedImage] = []
    truth: list[tuple[int, str]] = []
    if cache is not None and cache.exists():
        with cache.open("rb") as stored:
            items, truth = pickle.load(stored)
        return items, truth, pictures, _repost_set.split(pictures)
    for picture, edit, data in _repost_set.published(pictures):
        items.append(engine_hashed(len(items), data))
        truth.append((picture, edit))
    if cache is not None:
        with cache.open("wb") as stored:
            pickle.dump((items, truth), stored)
    return items, truth, pictures, _repost_set.split(pictures)


def pair_scores(
    keys: list[int], truth: Sequence[tuple[int, str]] | Mapping[int, tuple[int, str]], labels: Mapping[int, int]
) -> tuple[dict[str, tuple[int, int]], int, int, Counter]:
    """Recall counts per edit (found, copies), true and predicted pairs, and false pairs by picture pair, of the
    images ``keys`` grouped by ``labels``; ``truth`` gives each key's picture and edit."""
    original = {truth[key][0]: key for key in keys if truth[key][1] == "original"}
    recall: dict[str, tuple[int, int]] = {}
    for key in keys:
        picture, edit = truth[key]
        if edit != "original":
            found, total = recall.get(edit, (0, 0))
            recall[edit] = (found + (labels[key] == labels[original[picture]]), total + 1)
    members: dict[int, list[int]] = {}
    for key in keys:
        members.setdefault(labels[key], []).append(key)
    true = predicted = 0
    confusions: Counter = Counter()
    for group in members.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                predicted += 1
                if truth[a][0] == truth[b][0]:
                    true += 1
                else:
                    confusions[tuple(sorted((truth[a][0], truth[b][0])))] += 1
    return recall, true, predicted, confusions


def repost_accuracy(
    items: list[HashedImage],
    truth: list[tuple[int, str]],
    half: set[int],
    params: ClusterParams,
    left_out: frozenset[str] = frozenset(),
) -> tuple[dict[str, tuple[int, int]], int, int, Counter]:
    """Recall counts per edit (found, copies), true and predicted pairs, false pairs by picture pair.

    Copies made by an edit of ``left_out`` are not clustered.
    """
    keys = [item.key for item in items if truth[item.key][0] in half and truth[item.key][1] not in left_out]
    clusterer = NearDuplicateClusterer(params)
    clusterer.add(items[key] for key in keys)
    labels = clusterer.labels()
    return pair_scores(keys, truth, labels)


def repost_report(cache: Path | None = None) -> None:
    from bench import _repost_set

    start = time.perf_counter()
    items, truth, pictures, (tuning, held_out) = repost_items(cache)
    sources = Counter(p.source for p in pictures)
    print(
        f"## Reposting: {len(pictures)} pictures ({', '.join(f'{n} {s}' for s, n in sources.items())}), "
        f"{sum(p.camera for p in pictures)} at camera size; {len(items)} images; "
        f"tuning {len(tuning)} / held-out {len(held_out)} pictures "
        f"(built and hashed in {time.perf_counter() - start:.0f} s)\n"
    )
    old = ClusterParams(colorhash_without_colour=True)
    variants = [
        ("before (whole-image hashes)", replace(old, region_phash_threshold=None)),
        ("version 4 rules", replace(old, overlay_dhash_threshold=None)),
        ("now", ClusterParams()),
    ]
    # The random crops are a separate measure: the ten edits' rows and precision stay those of earlier reports.
    random_crops = frozenset({_repost_set.RANDOM_CROP})
    for label, half in (("tuning", set(tuning)), ("held-out", set(held_out))):
        results = [repost_accuracy(items, truth, half, params, random_crops) for _, params in variants]
        with_crops = [repost_accuracy(items, truth, half, params) for _, params in variants]
        edits = list(results[0][0])
        header = ("edit", *(f"recall, {name}" for name, _ in variants))

        def recall(counts: dict[str, tuple[int, int]], edit: str) -> str:
            return f"{counts[edit][0] / counts[edit][1]:.2f} ({counts[edit][0]}/{counts[edit][1]})"

        def precision(result: tuple) -> str:
            return f"{result[1] / result[2]:.4f} ({result[2] - result[1]} false of {result[2]})"

        rows = [(edit, *(recall(r[0], edit) for r in results)) for edit in edits]
        rows.append(("pairwise precision", *(precision(r) for r in results)))
        rows.append(
            (f"{_repost_set.RANDOM_CROP} (set with them)", *(recall(r[0], _repost_set.RANDOM_CROP) for r in with_crops))
        )
        rows.append(("pairwise precision, set with the random crops", *(precision(r) for r in with_crops)))
        print(f"### {label} half\n")
        print(table(header, rows))
        for set_name, outcome in (("", results), (", set with the random crops", with_crops)):
            for (name, _), result in zip(variants, outcome, strict=True):
                cases = ", ".join(
                    f"{pictures[a].name} + {pictures[b].name} ({n} pairs)" for (a, b), n in result[3].most_common()
                )
                print(f"\nconfusions, {name}{set_name}: {cases or 'none'}")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer pictures, 10,000 hashes only")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measure (median)")
    parser.add_argument(
        "--hasher", choices=("imagehash", "engine"), default="imagehash", help="who hashes the accuracy sets"
    )
    parser.add_argument("--side", type=int, default=PICTURE_SIDE, help="long side of the published pictures")
    parser.add_argument("--no-speed", action="store_true", help="accuracy only")
    parser.add_argument("--repost-only", action="store_true", help="the reposting set only")
    parser.add_argument("--repost-cache", type=Path, help="file keeping the reposting set's hashes between runs")
    args = parser.parse_args()
    global HASHER
    HASHER = args.hasher
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    print(f"# Near-duplicate clustering benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")
    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, imagehash {imagehash.__version__}, "
        f"{_cpu()}, pinned to one core\n"
    )
    repost_report(args.repost_cache)
    if args.repost_only:
        return
    print(f"hashes by {args.hasher}, pictures {args.side} px on their long side\n")
    tries = 6_000 if args.quick else 30_000
    for title, detailed in (("Detailed pictures", True), ("With near-flat crops", False)):
        start = time.perf_counter()
        items, truth = edited_set(distinct_pictures(tries, detailed, side=args.side))
        built = time.perf_counter() - start
        accuracy_report(title, items, truth)
        print(f"(set built and hashed in {built:.1f} s)\n")

    if args.no_speed:
        return
    sizes = [10_000] if args.quick else [10_000, 100_000]
    print(f"## Speed (median of {args.runs} runs, one core)\n")
    print(table(("hashes", "what", "wall time", "CPU time", "result"), speed(sizes, args.runs)))
    print("\n## One radius-10 query, one core (CPU time per query)\n")
    print(table(("structure", "work", "time"), bk_tree_comparison()))


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


if __name__ == "__main__":
    main()
