"""Dominant colours by k-means and their web-safe palette.

The predecessor clustered the 100x100 RGB pixels of each image with scikit-learn's
``KMeans(n_clusters=5, n_init="auto", random_state=42)``. Those palettes are what
researchers compare against, so this module runs the same algorithm: greedy
k-means++ seeding fed by the same pseudo-random stream (MT19937 seeded with 42),
then Lloyd iterations until the labels stop changing or the centres move less
than scikit-learn's tolerance.

The analysis runs it compiled (kmeans_kernels.py, numba): the work is a few million
multiply-adds, which numpy spreads over hundreds of calls whose own cost exceeds it.
``kmeans`` below is the same algorithm in plain numpy, the reference the compiled one
is tested against.

A large JPEG decoded at reduced DCT scale cannot give the predecessor's very sample,
and k-means++ turns a small difference in the sample into another path, and another
optimum, about as often as another random seed would. For those samples
``dominant_colours(..., approximate=True)`` runs the consensus k-means: the same
seeding on the sample and on fixed copies of it with some values moved by one level,
Lloyd from each set of seeds on a subset of the pixels, and the optimum most of those
nearby paths reach, refined on the whole sample (docs/benchmarks/analysis.md).
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

WEB_SAFE_STEP = 51  # web-safe levels are 0, 51, 102, 153, 204, 255
MAX_ITERATIONS = 300
RELATIVE_TOLERANCE = 1e-4

# The uniform doubles RandomState(42) hands out first: k-means++ draws one to pick
# the first centre, then (2 + int(log k)) per further centre. Drawn once here so
# that concurrent calls share no generator state.
_SEED_STREAM: np.ndarray = np.random.RandomState(42).random_sample(1024)


def to_hex(rgb: tuple[int, int, int] | list[int]) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def nearest_web_safe(rgb: tuple[int, int, int] | list[int]) -> tuple[int, int, int]:
    """Nearest of the 216 web-safe colours in squared RGB distance.

    The web-safe colours form a product grid, so the nearest one is the nearest
    level on each channel taken separately; 51 being odd, no integer is a tie.
    """
    return tuple(WEB_SAFE_STEP * round(int(v) / WEB_SAFE_STEP) for v in rgb)  # type: ignore[return-value]


def websafe_palette(colours: list[dict[str, Any]]) -> dict[str, float]:
    """``{"#rrggbb": summed percentage}`` of the dominant colours snapped to web-safe ones."""
    palette: dict[str, float] = {}
    for colour in colours:
        key = to_hex(nearest_web_safe(colour["rgb"]))
        palette[key] = round(palette.get(key, 0.0) + colour["percentage"], 2)
    return palette


def _describe(centres: np.ndarray, counts: np.ndarray, total: int) -> list[dict[str, Any]]:
    # Stable order on ties keeps results reproducible; truncation matches int() of the predecessor.
    order = np.argsort(-counts, kind="stable")
    colours = []
    for index in order:
        if counts[index] == 0:
            continue
        rgb = [min(255, max(0, int(v))) for v in centres[index]]
        colours.append({"rgb": rgb, "hex": to_hex(rgb), "percentage": round(100.0 * int(counts[index]) / total, 2)})
    return colours


@lru_cache(maxsize=8)
def _uniform_cdf(n: int) -> np.ndarray:
    """numpy's choice(n, p=[1/n] * n) draws through this cumulative distribution."""
    cdf = np.full(n, 1.0 / n).cumsum()
    cdf /= cdf[-1]
    cdf.flags.writeable = False
    return cdf


def _seed(points: np.ndarray, sq_norms: np.ndarray, k: int) -> np.ndarray:
    """Greedy k-means++ on ``points`` (4, n: RGB rows and a row of ones), in float64.

    Each new centre is the best of a few candidates drawn with probability
    proportional to the squared distance to the nearest chosen centre. Returns
    fewer than ``k`` centres when every point already sits on a chosen one: the
    sample has that few distinct colours, and they are the exact answer.
    """
    n = points.shape[1]
    chosen = [int(_uniform_cdf(n).searchsorted(_SEED_STREAM[0], side="right"))]
    drawn = 1

    def distances(centres: np.ndarray) -> np.ndarray:
        coeffs = np.empty((len(centres), 4))
        coeffs[:, :3] = -2.0 * centres
        coeffs[:, 3] = (centres * centres).sum(axis=1)
        d = coeffs @ points
        # Integer-valued points make this exact (no negative rounding) in float64.
        d += sq_norms
        return d

    closest = distances(points[:3, chosen].T)[0]
    potential = closest.sum()
    trials = 2 + int(math.log(k))
    for _ in range(1, k):
        if potential <= 0.0:
            break
        targets = _SEED_STREAM[drawn : drawn + trials] * potential
        drawn += trials
        candidates = np.minimum(np.cumsum(closest).searchsorted(targets), n - 1)
        to_candidates = distances(points[:3, candidates].T)
        np.minimum(closest, to_candidates, out=to_candidates)
        potentials = to_candidates.sum(axis=1)
        best = int(np.argmin(potentials))
        potential = potentials[best]
        closest = to_candidates[best]
        chosen.append(int(candidates[best]))
    return points[:3, chosen].T.copy()


_PACKED_CENTRES = 8  # centre indices that fit in three mantissa bits
_TAG_MASK = np.int32(~7)


def _prepared(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(points (4, n): RGB rows and a row of ones, squared norms, scikit-learn's tolerance)."""
    n = len(pixels)
    points = np.empty((4, n))
    points[:3] = pixels.T
    points[3] = 1.0
    sq_norms = np.einsum("cn,cn->n", points[:3], points[:3])
    # scikit-learn's tolerance: the mean per-channel variance, from sums already at hand.
    means = points[:3].sum(axis=1) / n
    tolerance = (float(sq_norms.sum()) / n - float(means @ means)) / 3 * RELATIVE_TOLERANCE
    return points, sq_norms, tolerance


def kmeans(pixels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ``pixels`` (n, 3) into at most ``k`` centres; returns (centres (m, 3), counts (m,)).

    Fewer than ``k`` centres come back only when there are fewer distinct pixels.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    points, sq_norms, tolerance = _prepared(pixels)
    # Seeding decides which optimum Lloyd reaches, so it runs in float64 like the
    # predecessor; the iterations only need float32.
    seeds = _seed(points, sq_norms, k)
    return _lloyd(points, sq_norms, seeds, tolerance)


def _lloyd(
    points: np.ndarray, sq_norms: np.ndarray, seeds: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd from ``seeds`` (k, 3) until the labels stop changing or the centres move less than ``tolerance``."""
    n = points.shape[1]
    k = len(seeds)
    points32 = points.astype(np.float32)
    totals32 = np.empty((k, 4), dtype=np.float32)
    norms32 = sq_norms.astype(np.float32)
    coeffs = np.empty((k, 4), dtype=np.float32)
    distances = np.empty((k, n), dtype=np.float32)
    packed = distances.view(np.int32)
    labels = np.empty(n, dtype=np.int32)
    previous = np.full(n, -1, dtype=np.int32)
    membership = np.empty((k, n), dtype=np.float32)
    cluster_ids = np.arange(k, dtype=np.int32)[:, None]
    pack = k <= _PACKED_CENTRES

    def assign(centres: np.ndarray) -> None:
        # Squared distances |x|^2 - 2 c.x + |c|^2 in one product with the row of ones.
        np.multiply(centres, -2.0, out=coeffs[:, :3])
        np.einsum("ij,ij->i", centres, centres, out=coeffs[:, 3])
        np.matmul(coeffs, points32, out=distances)
        np.add(distances, norms32, out=distances)
        if not pack:
            np.argmin(distances, axis=0, out=labels)
            return
        # argmin along the short axis is several times slower than min: non-negative
        # float32 values order like their int32 bit patterns, so the low three
        # mantissa bits (1e-6 of relative precision) can carry the centre index.
        np.bitwise_and(packed, _TAG_MASK, out=packed)
        np.bitwise_or(packed, cluster_ids, out=packed)
        np.minimum.reduce(packed, axis=0, out=labels)
        np.bitwise_and(labels, 7, out=labels)

    centres32 = seeds.astype(np.float32)
    # Sums of at most 2^16 values <= 255 are exact in float32, so are the counts.
    one_product = n <= 4096
    for _ in range(MAX_ITERATIONS):
        assign(centres32)
        np.equal(labels, cluster_ids, out=membership, casting="unsafe")
        # Per centre: R, G, B sums and the count. On large samples k matrix-vector
        # products beat one (k, n) x (n, 4) product, a shape BLAS handles poorly.
        if one_product:
            np.matmul(membership, points32.T, out=totals32)
        else:
            for index in range(k):
                np.matmul(points32, membership[index], out=totals32[index])
        # An emptied cluster keeps its centre; k-means++ seeds on distinct points rarely empties one.
        updated = centres32.copy()
        np.divide(totals32[:, :3], totals32[:, 3:], out=updated, where=totals32[:, 3:] > 0)
        if (labels == previous).all():
            centres32 = updated
            break
        np.subtract(updated, centres32, out=centres32)
        shift = float(np.vdot(centres32, centres32))
        centres32 = updated
        previous, labels = labels, previous
        if shift <= tolerance:
            break
    assign(centres32)
    return centres32.astype(np.float64), np.bincount(labels, minlength=k)


# The consensus k-means of approximate samples (module docstring). Chosen on the tuning
# half of the large benchmark JPEGs (docs/benchmarks/analysis.md).
CONSENSUS_COPIES = 8  # moved copies of the sample, besides the sample itself
CONSENSUS_MOVED = 0.3  # share of the values a copy moves by one level, up or down
CONSENSUS_SUBSET = 16  # the runs from each set of seeds take every 16th pixel
CONSENSUS_ITERATIONS = 10  # Lloyd iterations of those runs: enough to tell which optimum each heads for
CONSENSUS_RADIUS = 8.0  # two palettes are one optimum when every colour of each lies this close (RGB) to the other's


@lru_cache(maxsize=4)
def _moves(n: int) -> np.ndarray:
    """Fixed (CONSENSUS_COPIES, 3, n) moves of -1, 0 or +1: the same on every call, so results are reproducible."""
    rng = np.random.default_rng(20261204)
    moves = np.where(
        rng.random((CONSENSUS_COPIES, n, 3)) < CONSENSUS_MOVED, rng.choice((-1, 1), (CONSENSUS_COPIES, n, 3)), 0
    )
    laid_out = np.ascontiguousarray(moves.transpose(0, 2, 1), dtype=np.float32)
    laid_out.flags.writeable = False
    return laid_out


_loading = threading.Lock()
_kernels: ModuleType | None = None


def compiled_kernels() -> ModuleType:
    """kmeans_kernels, imported on first use: numba and LLVM load only in processes that cluster."""
    global _kernels
    with _loading:
        if _kernels is None:
            from media_analysis.engine.image import kmeans_kernels

            _kernels = kmeans_kernels
        return _kernels


_warm = False


def warm_up() -> None:
    """Load (or compile, the first time on a machine) the compiled k-means before the first image needs it.

    Once per process; numba keeps the machine code in its on-disk cache for the next ones.
    """
    global _warm
    if _warm:
        return
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (CONSENSUS_SUBSET * 64, 3), dtype=np.uint8)
    compiled_kmeans(pixels, 5)
    consensus_kmeans(pixels, 5)
    _warm = True


def _first_seed(n: int) -> int:
    return int(_uniform_cdf(n).searchsorted(_SEED_STREAM[0], side="right"))


def compiled_kmeans(pixels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``kmeans`` compiled: (centres (m, 3), counts (m,)) of ``pixels`` (n, 3) uint8."""
    if k < 1:
        raise ValueError("k must be at least 1")
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    centres, counts = compiled_kernels().kmeans(
        pixels, _first_seed(len(pixels)), _SEED_STREAM, k, MAX_ITERATIONS, RELATIVE_TOLERANCE
    )
    return centres, counts


def consensus_kmeans(pixels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The consensus k-means of an approximate sample (module docstring); (centres, counts) as ``kmeans``."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    n = len(pixels)
    if k < 1 or n < k * CONSENSUS_SUBSET:
        return compiled_kmeans(pixels, k)
    centres, counts = compiled_kernels().consensus(
        pixels,
        _moves(n),
        _first_seed(n),
        _SEED_STREAM,
        k,
        CONSENSUS_SUBSET,
        CONSENSUS_ITERATIONS,
        CONSENSUS_RADIUS,
        MAX_ITERATIONS,
        RELATIVE_TOLERANCE,
    )
    if len(centres) == 0:  # so few colours that the seeding has no path to choose
        return compiled_kmeans(pixels, k)
    return centres, counts


def dominant_colours(pixels: np.ndarray, n_colors: int = 5, *, approximate: bool = False) -> list[dict[str, Any]]:
    """The ``n_colors`` dominant colours of ``pixels`` (uint8, shape (n, 3)), largest share first.

    Each is ``{"rgb": [r, g, b], "hex": "#rrggbb", "percentage": p}``. An image with
    fewer distinct colours than asked gets exactly those colours, never a clustering
    of duplicates. ``approximate``: the pixels only approximate the predecessor's
    sample (a JPEG decoded at reduced scale), so the consensus k-means clusters them.
    """
    pixels = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3)
    total = len(pixels)
    if total == 0:
        return []
    # The compiled loops release the GIL: threads cluster side by side.
    centres, counts = (consensus_kmeans if approximate else compiled_kmeans)(pixels, n_colors)
    return _describe(centres, counts, total)
