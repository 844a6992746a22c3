"""Perceptual hashes: pHash, dHash, average hash and colour hash.

Same definitions as the imagehash library, computed from block means or samples
rather than from the full image; the bench checks the Hamming distances to
imagehash on fully decoded images.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from media_analysis.engine.image.decode import Box

# Images up to this short side are hashed from their full greyscale, as imagehash does;
# larger ones from the means of blocks, at least HASH_SIDE of them on the short side.
HASH_SIDE = 200
# Short side of the nearest-neighbour sample the colour hash counts pixels on:
# sampling, unlike averaging, leaves the fractions of black, grey and saturated
# pixels unbiased. A JPEG decoded at reduced scale is already averaged, so a
# larger sample would cost time without removing that bias.
COLORHASH_SIDE = 128
DRAFTED_COLORHASH_SIDE = 64


def _dct_matrix(size: int, keep: int) -> np.ndarray:
    # Rows of the (unnormalised) DCT-II; only the low frequencies are kept.
    n = np.arange(size)
    k = np.arange(keep)[:, None]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))


_DCT_32_8 = _dct_matrix(32, 8)
_LANCZOS = Image.Resampling.LANCZOS


def _bits_to_hex(bits: np.ndarray) -> str:
    """imagehash's hex form: the bits, first one most significant, as zero-padded hex."""
    flat = np.asarray(bits, dtype=bool).reshape(-1)
    count = len(flat)
    value = int.from_bytes(np.packbits(flat).tobytes(), "big") >> (-count % 8)
    return f"{value:0{(count + 3) // 4}x}"


def phash(pixels: np.ndarray) -> str:
    """pHash of the 32x32 greyscale grid."""
    low = _DCT_32_8 @ pixels.astype(np.float64) @ _DCT_32_8.T
    ordered = np.sort(low, axis=None)
    median = (ordered[31] + ordered[32]) / 2  # np.median of 64 values, without its overhead
    return _bits_to_hex(low > median)


def dhash(pixels: np.ndarray) -> str:
    """dHash of the 9 wide, 8 high greyscale grid."""
    pixels = pixels.astype(np.int16)
    return _bits_to_hex(pixels[:, 1:] > pixels[:, :-1])


def ahash(pixels: np.ndarray) -> str:
    """Average hash of the 8x8 greyscale grid."""
    pixels = pixels.astype(np.float64)
    return _bits_to_hex(pixels > pixels.mean())


# The grids imagehash resizes the full greyscale image to with Lanczos (width, height).
HASH_GRIDS = {"phash": (32, 32), "dhash": (9, 8), "ahash": (8, 8)}


def _lanczos(x: np.ndarray) -> np.ndarray:
    return np.where((x >= -3.0) & (x < 3.0), np.sinc(x) * np.sinc(x / 3.0), 0.0)


@lru_cache(maxsize=64)
def _block_weights(in_size: int, out_size: int, block: int) -> np.ndarray:
    """Pillow's Lanczos weights from ``in_size`` pixels to ``out_size``, summed over blocks of ``block`` pixels.

    Shape (out_size, ceil(in_size / block)). Applied to the means of those blocks,
    they give nearly what the full resize gives (the filter spans many blocks, so it
    varies little within one). The coefficients are computed as Pillow's Resample.c
    computes them.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    centres = (np.arange(out_size) + 0.5) * scale
    first = np.maximum((centres - support + 0.5).astype(np.int64), 0)
    stop = np.minimum((centres + support + 0.5).astype(np.int64), in_size)
    lengths = np.maximum(stop - first, 0)
    rows = np.repeat(np.arange(out_size), lengths)
    starts = np.cumsum(lengths) - lengths
    positions = np.arange(int(lengths.sum())) - np.repeat(starts, lengths) + np.repeat(first, lengths)
    weights = _lanczos((positions - centres[rows] + 0.5) / filterscale)
    totals = np.bincount(rows, weights, minlength=out_size)
    weights /= np.where(totals != 0.0, totals, 1.0)[rows]
    blocks = -(-in_size // block)
    summed = np.bincount(rows * blocks + positions // block, weights, minlength=out_size * blocks)
    summed = summed.reshape(out_size, blocks)
    summed.flags.writeable = False
    return summed


def hash_grids(base: Image.Image, draft_box: Box | None, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The greyscale grids pHash, dHash and aHash are computed from, as imagehash makes them.

    imagehash resizes the full greyscale image with Lanczos. A small image is
    resized just so. A larger one is first reduced to the means of square blocks
    (a JPEG decoded at reduced DCT scale already is: libjpeg keeps each block's
    mean), and the same Lanczos weights, summed per block, are applied to those
    means in floating point, then clipped and rounded as Pillow does. On fully
    decoded photos the grids then differ from Pillow's own by rounding only.
    DCT-scaled JPEGs differ more: only a full decode clamps every pixel to 0..255,
    which darkens bright grainy areas a little (both measured in
    docs/benchmarks/analysis.md).
    """
    grey = base.convert("L")
    if draft_box is None and min(grey.size) <= HASH_SIDE:
        return {name: np.asarray(grey.resize(grid, _LANCZOS)) for name, grid in HASH_GRIDS.items()}
    if draft_box is not None:
        block = max(1, round(size[0] / draft_box[2]))
    else:
        block = max(1, min(grey.size) // HASH_SIDE)
        if block > 1:
            grey = grey.reduce(block)
    means = np.asarray(grey, dtype=np.float64)
    width, height = size
    rows, columns = -(-height // block), -(-width // block)
    # DCT scaling rounds the decoded size up; only the blocks of the original count,
    # as many as _block_weights has columns for.
    means = means[:rows, :columns]
    grids = {}
    for name, (grid_width, grid_height) in HASH_GRIDS.items():
        horizontal = _block_weights(width, grid_width, block)
        vertical = _block_weights(height, grid_height, block)
        # Pillow resizes rows first and clips them to 0..255 before the vertical
        # pass; Lanczos overshoots near bright or dark edges, so the clip matters.
        rows_first = np.clip(means @ horizontal.T, 0.0, 255.0)
        grids[name] = np.clip(np.floor(vertical @ rows_first + 0.5), 0, 255).astype(np.uint8)
    return grids


def _colorhash_table() -> np.ndarray:
    """Bin of every (saturation, hue) pair: 0 grey, 1-6 faint hues, 7-12 bright hues, 13 neither."""
    s = np.arange(256)[:, None]
    h = np.arange(256)[None, :]
    hue_bin = np.minimum(h * 6 // 255, 5)  # numpy.histogram's six equal bins over 0..255
    table = np.full((256, 256), 13, dtype=np.uint8)
    table = np.where(s < 256 * 2 // 3, 1 + hue_bin, table)
    table = np.where(s > 256 * 2 // 3, 7 + hue_bin, table)
    table = np.where(s < 256 // 3, 0, table)
    return np.ascontiguousarray(table, dtype=np.uint8).reshape(-1)


_COLORHASH_BINS = _colorhash_table()
_BLACK_BIN = 14


def colorhash(rgb: Image.Image, binbits: int = 3) -> str:
    """Fractions of black, grey, and faint/bright pixels per hue, ``binbits`` bits each."""
    intensity = np.asarray(rgb.convert("L")).reshape(-1)
    hsv = np.asarray(rgb.convert("HSV")).reshape(-1, 3)
    index = hsv[:, 1].astype(np.uint16) << 8
    index |= hsv[:, 0]
    bins = _COLORHASH_BINS.take(index)
    bins[intensity < 256 // 8] = _BLACK_BIN
    counts = np.bincount(bins, minlength=15)
    total = len(bins)
    coloured = max(1, total - int(counts[_BLACK_BIN]) - int(counts[0]))
    top = 2**binbits
    values = [min(top - 1, int(counts[_BLACK_BIN] / total * top)), min(top - 1, int(counts[0] / total * top))]
    values += [min(top - 1, int(int(count) * top * 1.0 / coloured)) for count in counts[1:13]]
    bits = [value // (2 ** (binbits - i - 1)) % 2 ** (binbits - i) > 0 for value in values for i in range(binbits)]
    return _bits_to_hex(np.array(bits))


def sampled(img: Image.Image, side: int) -> Image.Image:
    """A nearest-neighbour sample of ``img`` with ``side`` pixels on its short side.

    Images up to twice that size are counted whole: sampling them would save little
    time and add sampling noise to the colour hash.
    """
    width, height = img.size
    short = min(width, height)
    if short <= 2 * side:
        return img
    return img.resize((max(1, width * side // short), max(1, height * side // short)), Image.Resampling.NEAREST)
