"""The consensus k-means of large JPEGs in plain numpy: the reference of the compiled one in colours.py.

A JPEG decoded at reduced DCT scale gives a 100x100 sample that differs from the
predecessor's by about a grey level on half its values. k-means++ picks its seeds by
position in a cumulative sum of distances, so such a difference sends it down
another path, and Lloyd into another optimum, on about one image in six: as often
as a different random_state would. Which optimum the predecessor reached is, given
only the approximate sample, best guessed as the one most of its nearby paths reach:
the same seeding (same positions in the same random stream) is run on the sample
and on copies of it with a few values moved by one level, Lloyd runs from every set
of seeds on a subset of the pixels, and the optimum reached by the most runs is
refined on the whole sample.

The engine runs it compiled (``colours.consensus_kmeans``, analysis version 5); this
numpy form, several times slower, is what it was designed and first measured with,
kept so that ``bench/palette_groups.py`` can show both give the same palettes.
"""

from __future__ import annotations

import math

import numpy as np

from media_analysis.engine.image.colours import (
    _PACKED_CENTRES,
    _SEED_STREAM,
    _TAG_MASK,
    CONSENSUS_COPIES,
    CONSENSUS_ITERATIONS,
    CONSENSUS_RADIUS,
    CONSENSUS_SUBSET,
    _describe,
    _lloyd,
    _moves,
    _prepared,
    _uniform_cdf,
    kmeans,
)

_SEARCH_BLOCK = 100  # the cumulative sums are searched a block of pixels at a time


def _jitter(n: int) -> np.ndarray:
    """The engine's fixed moves of -1, 0 or +1, as (CONSENSUS_COPIES, n, 3)."""
    return _moves(n).transpose(0, 2, 1).astype(np.int16)


def _seed_copies(copies: np.ndarray, k: int) -> np.ndarray | None:
    """Greedy k-means++ (the predecessor's random stream) on each of ``copies`` (m, n, 3) at once, in float32.

    Returns the seeds (m, k, 3), or None when a copy has fewer than ``k`` distinct colours.
    """
    m, n, _ = copies.shape
    points = np.empty((m, 4, n), dtype=np.float32)
    points[:, :3] = copies.transpose(0, 2, 1)
    points[:, 3] = 1.0
    sq_norms = np.einsum("mcn,mcn->mn", points[:, :3], points[:, :3])  # integers below 2^24: exact
    rows = np.arange(m)

    def distances(centres: np.ndarray) -> np.ndarray:
        coeffs = np.empty((m, centres.shape[1], 4), dtype=np.float32)
        coeffs[..., :3] = -2.0 * centres
        coeffs[..., 3] = (centres * centres).sum(axis=2)
        d = np.matmul(coeffs, points)
        d += sq_norms[:, None, :]
        return d

    first = int(_uniform_cdf(n).searchsorted(_SEED_STREAM[0], side="right"))
    chosen = [points[:, :3, first]]
    blocks = -(-n // _SEARCH_BLOCK)
    closest = np.zeros((m, blocks * _SEARCH_BLOCK), dtype=np.float32)
    closest[:, :n] = distances(points[:, None, :3, first])[:, 0]
    trials = 2 + int(math.log(k))
    drawn = 1
    for _ in range(1, k):
        # float32 cancellation can leave a distance slightly below zero: it must add nothing.
        np.maximum(closest, 0.0, out=closest)
        # Where u * potential falls in each copy's cumulative sum: first the block, then the pixel.
        by_block = closest.reshape(m, blocks, _SEARCH_BLOCK)
        cumulative = np.cumsum(by_block.sum(axis=2), axis=1, dtype=np.float64)
        potential = cumulative[:, -1]
        if (potential <= 0.0).any():
            return None
        targets = _SEED_STREAM[drawn : drawn + trials][None, :] * potential[:, None]
        drawn += trials
        offsets = rows[:, None] * (2.0 * float(potential.max()) + 1.0)
        block = (cumulative + offsets).ravel().searchsorted((targets + offsets).ravel()).reshape(m, trials)
        block = np.minimum(block - rows[:, None] * blocks, blocks - 1)
        before = np.where(block > 0, np.take_along_axis(cumulative, np.maximum(block - 1, 0), axis=1), 0.0)
        within = np.cumsum(by_block[rows[:, None], block], axis=2, dtype=np.float64)
        position = block * _SEARCH_BLOCK + (within < (targets - before)[..., None]).sum(axis=2)
        candidates = np.take_along_axis(points[:, :3], np.minimum(position, n - 1)[:, None, :], axis=2)
        candidates = candidates.transpose(0, 2, 1)
        to_candidates = distances(candidates)
        np.minimum(to_candidates, closest[:, None, :n], out=to_candidates)
        best = to_candidates.sum(axis=2).argmin(axis=1)
        closest[:, :n] = to_candidates[rows, best]
        chosen.append(candidates[rows, best])
    return np.stack(chosen, axis=1)


def _lloyd_copies(pixels: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Lloyd from each set of ``seeds`` (m, k, 3) on ``pixels`` (n, 3), all at once; each run stops by its own rule."""
    m, k, _ = seeds.shape
    points, sq_norms, tolerance = _prepared(pixels)
    points32 = points.astype(np.float32)
    norms32 = sq_norms.astype(np.float32)
    n = points32.shape[1]
    channels = [np.tile(points[c], m) for c in range(3)]
    run_offsets = (np.arange(m, dtype=np.int32) * k)[:, None]
    centres = seeds.astype(np.float32)
    coeffs = np.empty((m * k, 4), dtype=np.float32)
    distances = np.empty((m, k, n), dtype=np.float32)
    packed = distances.view(np.int32)
    labels = np.empty((m, n), dtype=np.int32)
    previous = np.full((m, n), -1, dtype=np.int32)
    cluster_ids = np.arange(k, dtype=np.int32)[None, :, None]
    running = np.ones(m, dtype=bool)
    for _ in range(CONSENSUS_ITERATIONS):
        flat = centres.reshape(m * k, 3)
        np.multiply(flat, -2.0, out=coeffs[:, :3])
        np.einsum("ij,ij->i", flat, flat, out=coeffs[:, 3])
        np.matmul(coeffs, points32, out=distances.reshape(m * k, n))
        distances += norms32
        np.maximum(distances, 0.0, out=distances)
        # The nearest centre by the integer order of non-negative floats, its index in the low bits (see _lloyd).
        np.bitwise_and(packed, _TAG_MASK, out=packed)
        np.bitwise_or(packed, cluster_ids, out=packed)
        np.minimum.reduce(packed, axis=1, out=labels)
        np.bitwise_and(labels, 7, out=labels)
        slots = (labels + run_offsets).ravel()
        counts = np.bincount(slots, minlength=m * k).reshape(m, k, 1)
        sums = np.stack([np.bincount(slots, weights=c, minlength=m * k) for c in channels], axis=1).reshape(m, k, 3)
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), centres).astype(np.float32)
        shift = ((updated - centres) ** 2).sum(axis=(1, 2))
        settled = (labels == previous).all(axis=1) | (shift <= tolerance)
        centres = np.where(running[:, None, None], updated, centres)
        running &= ~settled
        if not running.any():
            break
        previous, labels = labels, previous
    return centres


def _most_reached(palettes: np.ndarray) -> int:
    """Index of the palette (m, k, 3) that the most others match, the first (the sample's own) on a tie."""
    gaps = np.sqrt(((palettes[:, None, :, None, :] - palettes[None, :, None, :, :]) ** 2).sum(axis=4))
    apart = np.maximum(gaps.min(axis=3).max(axis=2), gaps.min(axis=2).max(axis=2))
    matches = (apart <= CONSENSUS_RADIUS).sum(axis=1)
    return 0 if matches[0] == matches.max() else int(matches.argmax())


def consensus_kmeans(pixels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means of an approximate sample aiming at the predecessor's optimum; (centres, counts) as ``kmeans``."""
    n = len(pixels)
    if k < 1 or k > _PACKED_CENTRES or n < k * CONSENSUS_SUBSET:
        return kmeans(pixels, k)
    copies = np.empty((CONSENSUS_COPIES + 1, n, 3), dtype=np.int16)
    copies[0] = pixels
    np.add(copies[0], _jitter(n), out=copies[1:])
    np.clip(copies[1:], 0, 255, out=copies[1:])
    seeds = _seed_copies(copies, k)
    if seeds is None:
        return kmeans(pixels, k)  # so few colours that the seeding has no path to choose
    reached = _lloyd_copies(pixels[::CONSENSUS_SUBSET], seeds)
    points, sq_norms, tolerance = _prepared(pixels)
    return _lloyd(points, sq_norms, reached[_most_reached(reached)].astype(np.float64), tolerance)


def consensus_colours(pixels: np.ndarray, n_colors: int = 5) -> list[dict]:
    """``dominant_colours`` with ``consensus_kmeans`` in place of the engine's k-means."""
    pixels = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3)
    centres, counts = consensus_kmeans(pixels, n_colors)
    return _describe(centres, counts, len(pixels))
