"""Compiled k-means kernels (numba): the seeding and Lloyd iterations of colours.py in native loops.

Imported only by ``colours.compiled_kernels``, on the first clustering of a process, so
that importing the engine does not load numba and LLVM. Each function is compiled once
and kept in numba's on-disk cache (``NUMBA_CACHE_DIR``, which the project points at its
var directory), so later processes load the machine code instead of compiling it.

Exactness: pixels are integers 0-255, so every squared distance during the seeding
(at most 3 * 255^2) and every per-block sum of them (``_BLOCK`` values) is an integer
below 2^24, exact in float32 in any order; the running totals are float64, exact below
2^53. The seeding therefore picks the very positions that colours.py's float64 numpy
seeding (and the predecessor's scikit-learn) picks. Lloyd's sums per cluster are exact
float32 integers too; the centres are their float64 quotients, as in scikit-learn. The
distances of Lloyd's assignment step are float64 for ``kmeans`` (the predecessor's
precision) and float32 in the consensus (it aims at an optimum, not at digits).

``fastmath`` is set only where every value is an exact integer, where reordering sums
cannot change a bit; the assignment step of ``kmeans`` is compiled without it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_OPTIONS = {"nogil": True, "cache": True, "boundscheck": False, "error_model": "numpy"}
_BLOCK = 64  # 64 * 3 * 255^2 < 2^24: a block's float32 sum of squared distances is exact


@njit(fastmath=True, **_OPTIONS)
def _closer(x, y, z, closest, updated, cumulative, c0, c1, c2):
    """``updated`` = min(``closest``, squared distance to (c0, c1, c2)); ``cumulative`` its running sum per block.

    Written to another array than it reads: a select stored back in place becomes a
    masked store, several times slower on some processors.
    """
    n = x.shape[0]
    for i in range(n):
        dx = x[i] - c0
        dy = y[i] - c1
        dz = z[i] - c2
        d = dx * dx + dy * dy + dz * dz
        c = closest[i]
        updated[i] = d if d < c else c
    total = 0.0
    for block in range((n + _BLOCK - 1) // _BLOCK):
        s = np.float32(0)
        for i in range(block * _BLOCK, min(block * _BLOCK + _BLOCK, n)):
            s += updated[i]
        total += s
        cumulative[block] = total
    return total


@njit(fastmath=True, **_OPTIONS)
def _potential(x, y, z, closest, c0, c1, c2):
    """Sum over the points of min(``closest``, squared distance to (c0, c1, c2))."""
    n = x.shape[0]
    total = 0.0
    for start in range(0, n, _BLOCK):
        s = np.float32(0)
        for i in range(start, min(start + _BLOCK, n)):
            dx = x[i] - c0
            dy = y[i] - c1
            dz = z[i] - c2
            d = dx * dx + dy * dy + dz * dz
            c = closest[i]
            s += d if d < c else c
        total += s
    return total


@njit(fastmath=True, **_OPTIONS)
def _potentials3(x, y, z, closest, a, b, c):
    """``_potential`` of the points a, b and c in one pass (three candidates: the seeding of 3 to 7 centres)."""
    a0, a1, a2 = x[a], y[a], z[a]
    b0, b1, b2 = x[b], y[b], z[b]
    c0, c1, c2 = x[c], y[c], z[c]
    ta = 0.0
    tb = 0.0
    tc = 0.0
    n = x.shape[0]
    for start in range(0, n, _BLOCK):
        sa = np.float32(0)
        sb = np.float32(0)
        sc = np.float32(0)
        for i in range(start, min(start + _BLOCK, n)):
            xi, yi, zi, cl = x[i], y[i], z[i], closest[i]
            dx = xi - a0
            dy = yi - a1
            dz = zi - a2
            d = dx * dx + dy * dy + dz * dz
            sa += d if d < cl else cl
            dx = xi - b0
            dy = yi - b1
            dz = zi - b2
            d = dx * dx + dy * dy + dz * dz
            sb += d if d < cl else cl
            dx = xi - c0
            dy = yi - c1
            dz = zi - c2
            d = dx * dx + dy * dy + dz * dz
            sc += d if d < cl else cl
        ta += sa
        tb += sb
        tc += sc
    return ta, tb, tc


@njit(**_OPTIONS)
def _position(closest, cumulative, target):
    """numpy's ``cumsum(closest).searchsorted(target)`` clipped to the last index, from the per-block totals."""
    n = closest.shape[0]
    blocks = cumulative.shape[0]
    lo, hi = 0, blocks
    while lo < hi:
        mid = (lo + hi) >> 1
        if cumulative[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    if lo == blocks:
        return n - 1
    total = cumulative[lo - 1] if lo > 0 else 0.0
    end = min(lo * _BLOCK + _BLOCK, n)
    for i in range(lo * _BLOCK, end):
        total += closest[i]
        if total >= target:
            return i
    return end - 1


@njit(**_OPTIONS)
def _seed(x, y, z, first, stream, k, chosen):
    """Greedy k-means++ as colours._seed: the indices of the seeds in ``chosen``; returns how many were found."""
    n = x.shape[0]
    closest = np.full(n, np.inf, dtype=np.float32)
    updated = np.empty(n, dtype=np.float32)
    cumulative = np.empty((n + _BLOCK - 1) // _BLOCK)
    potential = _closer(x, y, z, closest, updated, cumulative, x[first], y[first], z[first])
    closest, updated = updated, closest
    chosen[0] = first
    found = 1
    trials = 2 + int(math.log(k))
    drawn = 1
    for _ in range(1, k):
        if potential <= 0.0:
            break
        if trials == 3:
            a = _position(closest, cumulative, stream[drawn] * potential)
            b = _position(closest, cumulative, stream[drawn + 1] * potential)
            c = _position(closest, cumulative, stream[drawn + 2] * potential)
            pa, pb, pc = _potentials3(x, y, z, closest, a, b, c)
            best, best_potential = a, pa
            if pb < best_potential:
                best, best_potential = b, pb
            if pc < best_potential:
                best, best_potential = c, pc
        else:
            best, best_potential = -1, 0.0
            for t in range(trials):
                candidate = _position(closest, cumulative, stream[drawn + t] * potential)
                p = _potential(x, y, z, closest, x[candidate], y[candidate], z[candidate])
                if best < 0 or p < best_potential:
                    best, best_potential = candidate, p
        drawn += trials
        potential = _closer(x, y, z, closest, updated, cumulative, x[best], y[best], z[best])
        closest, updated = updated, closest
        chosen[found] = best
        found += 1
    return found


@njit(**_OPTIONS)
def _nearer(x, y, z, c0, c1, c2, index, best, labels, best_out, labels_out):
    """One centre's turn of the assignment: where it is strictly nearer, it takes the point (the first on a tie)."""
    for i in range(x.shape[0]):
        dx = x[i] - c0
        dy = y[i] - c1
        dz = z[i] - c2
        d = dx * dx + dy * dy + dz * dz
        b = best[i]
        nearer = d < b
        best_out[i] = d if nearer else b
        labels_out[i] = index if nearer else labels[i]


@njit(**_OPTIONS)
def _assign5(x, y, z, c, labels):
    """``_assign`` of exactly five centres, point by point: the same comparisons in the same order."""
    a0, a1, a2 = c[0, 0], c[0, 1], c[0, 2]
    b0, b1, b2 = c[1, 0], c[1, 1], c[1, 2]
    c0, c1, c2 = c[2, 0], c[2, 1], c[2, 2]
    d0, d1, d2 = c[3, 0], c[3, 1], c[3, 2]
    e0, e1, e2 = c[4, 0], c[4, 1], c[4, 2]
    for i in range(x.shape[0]):
        xi, yi, zi = x[i], y[i], z[i]
        t0 = xi - a0
        t1 = yi - a1
        t2 = zi - a2
        best = t0 * t0 + t1 * t1 + t2 * t2
        label = np.int32(0)
        t0 = xi - b0
        t1 = yi - b1
        t2 = zi - b2
        d = t0 * t0 + t1 * t1 + t2 * t2
        label = np.int32(1) if d < best else label
        best = d if d < best else best
        t0 = xi - c0
        t1 = yi - c1
        t2 = zi - c2
        d = t0 * t0 + t1 * t1 + t2 * t2
        label = np.int32(2) if d < best else label
        best = d if d < best else best
        t0 = xi - d0
        t1 = yi - d1
        t2 = zi - d2
        d = t0 * t0 + t1 * t1 + t2 * t2
        label = np.int32(3) if d < best else label
        best = d if d < best else best
        t0 = xi - e0
        t1 = yi - e1
        t2 = zi - e2
        d = t0 * t0 + t1 * t1 + t2 * t2
        label = np.int32(4) if d < best else label
        labels[i] = label


@njit(**_OPTIONS)
def _assign(x, y, z, centres, labels, spare, best, best_spare):
    """Labels of the nearest centre, the first one on a tie (numpy's argmin); returns the array holding them."""
    typed = np.empty(centres.shape, dtype=best.dtype)
    typed[:] = centres
    if centres.shape[0] == 5:  # the analysis's number of colours: all five distances at once
        _assign5(x, y, z, typed, labels)
        return labels
    best[:] = np.inf
    labels[:] = 0
    for j in range(centres.shape[0]):
        _nearer(x, y, z, typed[j, 0], typed[j, 1], typed[j, 2], np.int32(j), best, labels, best_spare, spare)
        best, best_spare = best_spare, best
        labels, spare = spare, labels
    return labels


@njit(fastmath=True, **_OPTIONS)
def _cluster_sums(x, y, z, labels, index):
    """R, G, B sums and count of the points labelled ``index``: integers below 2^24, exact in any order."""
    sx = np.float32(0)
    sy = np.float32(0)
    sz = np.float32(0)
    count = np.float32(0)
    zero = np.float32(0)
    one = np.float32(1)
    for i in range(x.shape[0]):
        member = labels[i] == index
        sx += x[i] if member else zero
        sy += y[i] if member else zero
        sz += z[i] if member else zero
        count += one if member else zero
    return sx, sy, sz, count


@njit(**_OPTIONS)
def _lloyd(x, y, z, dx, dy, dz, centres, tolerance, max_iterations):
    """colours._lloyd in place on ``centres`` (float64): sums from x, y, z (float32), distances from dx, dy, dz.

    Stops when the labels no longer change or the centres move less than ``tolerance``
    (scikit-learn's rule); returns the count of each centre's points after a last assignment.
    """
    n = x.shape[0]
    k = centres.shape[0]
    labels = np.empty(n, dtype=np.int32)
    spare = np.empty(n, dtype=np.int32)
    previous = np.full(n, -1, dtype=np.int32)
    best = np.empty(n, dtype=dx.dtype)
    best_spare = np.empty(n, dtype=dx.dtype)
    updated = np.empty((k, 3))
    for _ in range(max_iterations):
        current = _assign(dx, dy, dz, centres, labels, spare, best, best_spare)
        for j in range(k):
            sx, sy, sz, count = _cluster_sums(x, y, z, current, np.int32(j))
            if count > 0:
                updated[j, 0] = np.float64(sx) / np.float64(count)
                updated[j, 1] = np.float64(sy) / np.float64(count)
                updated[j, 2] = np.float64(sz) / np.float64(count)
            else:  # an emptied cluster keeps its centre
                updated[j, :] = centres[j, :]
        unchanged = True
        for i in range(n):
            if current[i] != previous[i]:
                unchanged = False
                break
        if unchanged:
            centres[:] = updated
            break
        shift = 0.0
        for j in range(k):
            for c in range(3):
                d = updated[j, c] - centres[j, c]
                shift += d * d
        centres[:] = updated
        previous[:] = current
        if shift <= tolerance:
            break
    current = _assign(dx, dy, dz, centres, labels, spare, best, best_spare)
    counts = np.zeros(k, dtype=np.int64)
    for i in range(n):
        counts[current[i]] += 1
    return counts


@njit(**_OPTIONS)
def _tolerance(x, y, z, relative):
    """scikit-learn's tolerance: ``relative`` times the mean per-channel variance."""
    n = x.shape[0]
    variance = 0.0
    for channel in (x, y, z):
        s = 0.0
        squares = 0.0
        for i in range(n):
            v = np.float64(channel[i])
            s += v
            squares += v * v
        mean = s / n
        variance += squares / n - mean * mean
    return variance / 3 * relative


@njit(**_OPTIONS)
def _channels(pixels, step):
    """R, G and B of every ``step``-th pixel of ``pixels`` (n, 3) as float32 rows."""
    n = (pixels.shape[0] + step - 1) // step
    x = np.empty(n, dtype=np.float32)
    y = np.empty(n, dtype=np.float32)
    z = np.empty(n, dtype=np.float32)
    for i in range(n):
        x[i] = pixels[i * step, 0]
        y[i] = pixels[i * step, 1]
        z[i] = pixels[i * step, 2]
    return x, y, z


@njit(**_OPTIONS)
def _points(x, y, z, chosen, count):
    centres = np.empty((count, 3))
    for j in range(count):
        centres[j, 0] = x[chosen[j]]
        centres[j, 1] = y[chosen[j]]
        centres[j, 2] = z[chosen[j]]
    return centres


@njit(**_OPTIONS)
def kmeans(pixels, first, stream, k, max_iterations, relative_tolerance):
    """colours.kmeans of ``pixels`` (n, 3) uint8; ``first``: the first seed's index. Returns (centres, counts)."""
    x, y, z = _channels(pixels, 1)
    chosen = np.empty(k, dtype=np.int64)
    found = _seed(x, y, z, first, stream, k, chosen)
    centres = _points(x, y, z, chosen, found)
    counts = _lloyd(
        x, y, z, x.astype(np.float64), y.astype(np.float64), z.astype(np.float64),
        centres, _tolerance(x, y, z, relative_tolerance), max_iterations,
    )  # fmt: skip
    return centres, counts


@njit(**_OPTIONS)
def _most_reached(palettes, radius):
    """Index of the palette that the most others match (every colour of each within ``radius`` of the other's).

    The first one (the sample's own) on a tie.
    """
    m, k, _ = palettes.shape
    limit = radius * radius
    best, best_matches = 0, -1
    for a in range(m):
        matches = 0
        for b in range(m):
            apart = 0.0
            for i in range(k):
                near_ab = np.inf
                near_ba = np.inf
                for j in range(k):
                    d_ab = 0.0
                    d_ba = 0.0
                    for c in range(3):
                        e = palettes[a, i, c] - palettes[b, j, c]
                        d_ab += e * e
                        e = palettes[b, i, c] - palettes[a, j, c]
                        d_ba += e * e
                    near_ab = min(near_ab, d_ab)
                    near_ba = min(near_ba, d_ba)
                apart = max(apart, near_ab, near_ba)
            if apart <= limit:
                matches += 1
        if matches > best_matches:
            best, best_matches = a, matches
    return best


@njit(**_OPTIONS)
def consensus(
    pixels, moves, first, stream, k, subset_step, subset_iterations, radius, max_iterations, relative_tolerance
):
    """The consensus k-means of colours.py on ``pixels`` (n, 3) uint8; ``moves`` (copies, 3, n) float32.

    Returns (centres, counts), or centres with no rows when a copy of the sample has
    fewer than ``k`` distinct colours (the caller then runs ``kmeans``).
    """
    n = pixels.shape[0]
    copies = moves.shape[0] + 1
    x0, y0, z0 = _channels(pixels, 1)
    x = np.empty(n, dtype=np.float32)
    y = np.empty(n, dtype=np.float32)
    z = np.empty(n, dtype=np.float32)
    chosen = np.empty(k, dtype=np.int64)
    palettes = np.empty((copies, k, 3))
    low = np.float32(0)
    high = np.float32(255)
    for copy in range(copies):
        if copy == 0:
            x[:] = x0
            y[:] = y0
            z[:] = z0
        else:
            move = moves[copy - 1]
            for i in range(n):
                x[i] = min(max(x0[i] + move[0, i], low), high)
                y[i] = min(max(y0[i] + move[1, i], low), high)
                z[i] = min(max(z0[i] + move[2, i], low), high)
        if _seed(x, y, z, first, stream, k, chosen) < k:
            return np.empty((0, 3)), np.empty(0, dtype=np.int64)
        palettes[copy] = _points(x, y, z, chosen, k)
    xs, ys, zs = _channels(pixels, subset_step)
    tolerance = _tolerance(xs, ys, zs, relative_tolerance)
    for copy in range(copies):
        _lloyd(xs, ys, zs, xs, ys, zs, palettes[copy], tolerance, subset_iterations)
    centres = palettes[_most_reached(palettes, radius)].copy()
    counts = _lloyd(x0, y0, z0, x0, y0, z0, centres, _tolerance(x0, y0, z0, relative_tolerance), max_iterations)
    return centres, counts
