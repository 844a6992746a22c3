"""Hashes of regions of a picture, to recognise it framed or cropped.

imagehash's whole-image hashes (hashes.py) see a picture through a 32x32 (pHash) or
9x8 (dHash) resize of the whole frame: add a plain border, or cut 10 % off one side,
and every cell of that grid looks at another part of the scene. Reposted pictures are
framed and cropped all the time, so each image also gets hashes of a few *regions*:

1. Uniform borders are trimmed first: a line of pixels (row or column) at the edge is
   dropped while nearly all of its pixels have the colour of that edge. A framed copy
   and its original then show the same content. Where the picture's own edge has the
   frame's colour (a white page in a white frame), that side is cut as wide as the
   sides that end on a straight edge.
2. On the trimmed picture, regions are taken at fixed places (:data:`REGIONS`): the
   whole, the largest centred square (for pictures that are not square), the centre
   at 90 % of each side, the picture without 12 % of one side, and without 12 % of one
   side and 4 % of another (adjacent or opposite). A crop of every side keeps the
   centre's content, a crop of one side that side's region, a crop of one side with a
   trim of another the matching two-sided region, and a feed's square crop is the
   centred square itself.
3. Each region gets a 64-bit pHash and a 64-bit dHash computed like imagehash's (DCT of
   a 32x32 greyscale resize and its median; horizontal gradient of a 9x8 resize), on a
   greyscale copy reduced to :data:`WORK_SIDE` pixels on its long side, which keeps the
   cost at a small fraction of the analysis.

The result is a hex string, :func:`region_hashes` -> ``"<phash><dhash>..."`` (32 hex
digits per region, in the order of :data:`REGIONS`; the trimmed box comes first, as
four 3-digit thousandths). Matching across regions is the clusterer's work.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

WORK_SIDE = 256
# A line belongs to a uniform border when this share of its pixels is within
# BORDER_TOLERANCE grey levels of the edge's colour (JPEG ringing leaves a few outliers).
BORDER_SHARE = 0.98
BORDER_TOLERANCE = 10
# Never trim more than this share of a side away: beyond it, the "border" is the picture.
MAX_TRIM = 0.4
# Lines looked at past a border, and the share of their pixels that must differ from it.
EDGE_DEPTH = 3
EDGE_SHARE = 0.5
# Sides of one frame differ by at most this share of the long side (or these pixels): the
# draft decoding of a JPEG blurs an edge over a pixel or two.
EVEN_SLACK = 0.01
EVEN_SLACK_PIXELS = 2
# A line past a border whose distance to the frame's colour is below this share of the
# next line's is a blend of frame and picture, and goes with the frame.
BLEND_SHARE = 0.5


@dataclass(frozen=True)
class Region:
    """A part of the trimmed picture, as shares of its width and height: (left, top, right, bottom)."""

    name: str
    box: tuple[float, float, float, float]
    square: bool = False  # the largest centred square instead of ``box``


_SIDES = ("left", "top", "right", "bottom")


def _cut(shares: dict[str, float]) -> tuple[float, float, float, float]:
    """The box left when each named side loses its share."""
    return shares.get("left", 0.0), shares.get("top", 0.0), 1 - shares.get("right", 0.0), 1 - shares.get("bottom", 0.0)


def _regions() -> tuple[Region, ...]:
    c, cut, less = 0.9, 0.12, 0.04
    one_sided = tuple(Region(f"no {side}", _cut({side: cut})) for side in _SIDES)
    # A repost cut on one side is often trimmed a little on another: a region per ordered
    # pair of sides (``cut`` off the first, ``less`` off the second), adjacent or opposite.
    two_sided = tuple(
        Region(f"no {big}, less {small}", _cut({big: cut, small: less}))
        for big in _SIDES
        for small in _SIDES
        if small != big
    )
    return (
        Region("whole", (0.0, 0.0, 1.0, 1.0)),
        Region("square", (0.0, 0.0, 1.0, 1.0), square=True),
        Region("centre", ((1 - c) / 2, (1 - c) / 2, (1 + c) / 2, (1 + c) / 2)),
        *one_sided,
        *two_sided,
    )


REGIONS: tuple[Region, ...] = _regions()
REGION_COUNT = len(REGIONS)
BOX_DIGITS = 12
HEX_LENGTH = BOX_DIGITS + 32 * REGION_COUNT


def _dct_matrix(n: int) -> np.ndarray:
    # scipy.fftpack.dct(type 2, no normalisation) as a matrix: 2 cos(pi (2i + 1) k / 2n).
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * (2 * i + 1) * k / (2 * n))


_DCT = _dct_matrix(32)[:8]  # only the 8 lowest frequencies are kept


def _pack(flags: np.ndarray) -> list[int]:
    """Rows of 64 booleans to ints, the first one of a row the highest bit (imagehash's order)."""
    return np.packbits(flags, axis=1).view(">u8").ravel().tolist()


def _uniform(lines: np.ndarray, colour: np.ndarray) -> np.ndarray:
    close = (np.abs(lines.astype(np.int16) - colour) <= BORDER_TOLERANCE).all(axis=-1)
    return close.mean(axis=1) >= BORDER_SHARE


def _frame(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Widths (left, top, right, bottom) of a plain frame around ``rgb``, or None when there is none.

    A frame runs round all four sides in one colour: a one-sided band (a sky, a wall, a
    margin of a screenshot) is part of the picture, and trimming it would make copies
    that differ only by where they were cut look different.
    """
    h, w = rgb.shape[:2]
    corners = rgb[[0, 0, -1, -1], [0, -1, 0, -1]].astype(np.int16)
    if np.abs(corners - corners[0]).max() > BORDER_TOLERANCE:
        return None
    colour = np.median(corners, axis=0).astype(np.int16)
    depths: list[int] = []
    straight: list[bool] = []
    for lines, limit in (
        (rgb.transpose(1, 0, 2), w),
        (rgb, h),
        (rgb.transpose(1, 0, 2)[::-1], w),
        (rgb[::-1], h),
    ):
        uniform = _uniform(lines[: int(limit * MAX_TRIM)], colour)
        stop = np.flatnonzero(~uniform)
        if len(stop) == 0 or stop[0] == 0:
            return None
        # A frame ends on a straight edge: within a few lines, most of the line is picture.
        # A background (a product on white) ends on the tip of an object instead.
        edge = lines[stop[0] : stop[0] + EDGE_DEPTH].astype(np.int16)
        far = (np.abs(edge - colour) > BORDER_TOLERANCE).any(axis=-1).mean(axis=1)
        depth = int(stop[0])
        # A line that mixes frame and picture (a reduced JPEG's edge) goes with the frame
        # when it lies nearer the frame's colour than the line after it does.
        away = np.abs(edge - colour).mean(axis=(1, 2))
        if len(away) > 1 and away[0] < BLEND_SHARE * away[1]:
            depth += 1
        depths.append(depth)
        straight.append(bool(far.max() >= EDGE_SHARE))
    if all(straight):
        return depths[0], depths[1], depths[2], depths[3]
    return _even_frame(depths, straight, max(h, w))


def _even_frame(depths: list[int], straight: list[bool], side: int) -> tuple[int, int, int, int] | None:
    """A frame of one width whose edge is straight on some sides only, or None.

    Where the picture's own edge is close to the frame's colour (a white page framed in
    white, a dark coat in a dark frame), that side shows no straight edge: the uniform
    run stops at the first detail, or goes on into the picture. Frames are most often
    as wide on every side, so when at least two sides end on a straight edge at the
    same width, the other sides are cut at that width too, provided they are uniform
    at least that far.
    """
    widths = [d for d, s in zip(depths, straight, strict=True) if s]
    if len(widths) < 2:
        return None
    slack = max(EVEN_SLACK_PIXELS, round(EVEN_SLACK * side))
    if max(widths) - min(widths) > slack:
        return None
    width = min(widths)
    if any(not s and d < width - slack for d, s in zip(depths, straight, strict=True)):
        return None
    out = [d if s else min(d, width) for d, s in zip(depths, straight, strict=True)]
    return out[0], out[1], out[2], out[3]


def trimmed_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of ``rgb`` (h x w x 3) without its plain frames (two at most, nested)."""
    h, w = rgb.shape[:2]
    left, top, right, bottom = 0, 0, w, h
    for _ in range(2):
        frame = _frame(rgb[top:bottom, left:right])
        if frame is None:
            break
        left, top, right, bottom = left + frame[0], top + frame[1], right - frame[2], bottom - frame[3]
    return left, top, right, bottom


def _region_box(box: tuple[float, float, float, float], region: Region) -> tuple[float, float, float, float]:
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    if region.square:
        side = min(w, h)
        x0, y0 = left + (w - side) / 2, top + (h - side) / 2
        return x0, y0, x0 + side, y0 + side
    share_left, share_top, share_right, share_bottom = region.box
    return left + share_left * w, top + share_top * h, left + share_right * w, top + share_bottom * h


@dataclass(frozen=True)
class RegionHashes:
    """The trimmed box (thousandths of width and height) and (pHash, dHash) of each region."""

    box: tuple[int, int, int, int]
    hashes: tuple[tuple[int, int], ...]

    def hex(self) -> str:
        head = "".join(f"{v:03x}" for v in self.box)
        return head + "".join(f"{p:016x}{d:016x}" for p, d in self.hashes)

    @classmethod
    def from_hex(cls, text: str) -> RegionHashes:
        if len(text) != HEX_LENGTH:
            raise ValueError(f"region hashes have {HEX_LENGTH} hex digits, not {len(text)}")
        box = tuple(int(text[i : i + 3], 16) for i in range(0, BOX_DIGITS, 3))
        # One conversion for the 2 x REGION_COUNT 64-bit values: a land holds a million of them.
        values = np.frombuffer(bytes.fromhex(text[BOX_DIGITS:]), dtype=">u8").tolist()
        hashes = tuple(zip(values[::2], values[1::2], strict=True))
        return cls(box=(box[0], box[1], box[2], box[3]), hashes=hashes)

    @property
    def trimmed(self) -> bool:
        return self.box != (0, 0, 1000, 1000)


def _working_copy(img: Image.Image) -> np.ndarray:
    """``img`` as an RGB array of about WORK_SIDE pixels on its long side (box-averaged)."""
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    factor = max(1, max(rgb.size) // WORK_SIDE)
    if factor > 1:
        rgb = rgb.reduce(factor)
    return np.asarray(rgb)


@lru_cache(maxsize=32)
def _grid(
    box: tuple[int, int, int, int], width: int, height: int, cols: int, rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where a ``rows`` x ``cols`` grid over each region of ``box`` reads a summed-area table of ``width`` x ``height``.

    Returns the flat index in the table of every cell corner (region, row, column)
    and the pixels of every cell (at least 1). It depends on the sizes only, which
    pictures of one site share: computed once per size and trimmed box.
    """
    areas = np.array([_region_box(box, region) for region in REGIONS])
    xs = _cell_edges(areas[:, [0, 2]], cols, width)
    ys = _cell_edges(areas[:, [1, 3]], rows, height)
    corners = ys[:, :, None] * (width + 1) + xs[:, None, :]
    # A picture smaller than the grid has empty cells: their mean is 0, not a division by zero.
    pixels = np.maximum(np.diff(ys, axis=1)[:, :, None] * np.diff(xs, axis=1)[:, None, :], 1)
    corners.flags.writeable = pixels.flags.writeable = False
    return corners, pixels


def _grid_means(integral: np.ndarray, box: tuple[int, int, int, int], cols: int, rows: int) -> np.ndarray:
    """Mean of each cell of a ``rows`` x ``cols`` grid over each region of ``box``, from a summed-area table."""
    height, width = integral.shape[0] - 1, integral.shape[1] - 1
    index, pixels = _grid(box, width, height, cols, rows)
    # The table at every corner of every cell, in one gather: neighbouring cells share corners.
    corners = integral.ravel().take(index)
    sums = corners[:, 1:, 1:] - corners[:, :-1, 1:] - corners[:, 1:, :-1] + corners[:, :-1, :-1]
    return sums / pixels


def _cell_edges(spans: np.ndarray, cells: int, limit: int) -> np.ndarray:
    """Integer edges of ``cells`` equal cells over each (start, stop) span, every cell at least one pixel."""
    edges = np.round(spans[:, :1] + (spans[:, 1:] - spans[:, :1]) * np.linspace(0, 1, cells + 1)).astype(np.intp)
    # Shift right where rounding made a cell empty, then keep within the picture.
    edges = np.maximum.accumulate(edges - np.arange(cells + 1), axis=1) + np.arange(cells + 1)
    edges = np.minimum(edges, limit)
    edges = np.minimum(edges, limit - cells + np.arange(cells + 1))
    return np.maximum(edges, 0)


def region_hashes(img: Image.Image) -> RegionHashes:
    """Trim ``img``'s uniform borders and hash each region of :data:`REGIONS`."""
    pixels = _working_copy(img)
    h, w = pixels.shape[:2]
    left, top, right, bottom = trimmed_box(pixels)
    if right - left < 8 or bottom - top < 8:
        left, top, right, bottom = 0, 0, w, h
    # ITU-R 601-2 luma, as Pillow's conversion to "L".
    grey = pixels @ np.array([0.299, 0.587, 0.114])
    integral = np.zeros((h + 1, w + 1))
    np.cumsum(np.cumsum(grey, axis=0), axis=1, out=integral[1:, 1:])
    box = (left, top, right, bottom)
    low = (_DCT @ _grid_means(integral, box, 32, 32) @ _DCT.T).reshape(len(REGIONS), 64)
    # The median of 64 values is the mean of the 32nd and 33rd smallest, as np.median takes it.
    middle = np.partition(low, (31, 32), axis=1)
    phash_bits = low > ((middle[:, 31] + middle[:, 32]) / 2)[:, None]
    gradient = _grid_means(integral, box, 9, 8)
    dhash_bits = (gradient[:, :, 1:] > gradient[:, :, :-1]).reshape(len(REGIONS), 64)
    hashes = list(zip(_pack(phash_bits), _pack(dhash_bits), strict=True))
    shares = (round(1000 * left / w), round(1000 * top / h), round(1000 * right / w), round(1000 * bottom / h))
    return RegionHashes(box=shares, hashes=tuple(hashes))
