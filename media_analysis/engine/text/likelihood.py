"""The cheap test that decides whether a picture is worth recognising.

Full recognition costs far more than the rest of an image's analysis, and most
pictures of a land are photos without text. Printed text has a signature that a
few array passes find: rows of short, sharp, mostly vertical strokes, packed into
horizontal bands a few times wider than they are tall. The test marks strong
horizontal gradients, joins the strokes of each band, and keeps the bands whose
shape and stroke rhythm look like lines of characters. Its score is the share of
the picture (in per mille) that such lines cover; the same bands give the height
of the text, from which the recognition scales the picture.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# A stroke's edge: a step of at least this many grey levels between neighbours.
EDGE_STEP = 48
STRONG_EDGE_STEP = 120
TEST_SIDE = 800  # long side of the picture the test reads (pictures are reduced to it)
MIN_LINE_HEIGHT = 5  # in the test's pixels: below this no glyph is legible
MIN_ASPECT = 2.5  # a line holds a few characters
MIN_FILL = 0.45  # share of the band's box its joined strokes fill
MIN_STROKES_PER_HEIGHT = 1.4  # stroke edges along the middle row, per line height of width
MAX_MARGIN_RATIO = 0.5  # edges in the strips above and below a line, relative to the line's own
RULE_SHARE = 0.7  # a row of the margin whose horizontal edges span this share of the line: a band's border
# A plain ground: this share of the pixels within FLAT_STEP grey levels of the median (text on a
# flat colour covers a few tenths of it at most; photos, even a night sky, have more spread).
FLAT_STEP, FLAT_SHARE = 12, 0.94
COARSE_FACTOR = 2  # the further reduction of a plain picture in which nothing was found
# Over a photo, the longest row of lines (neighbouring lines side by side, as a line's words are) spans at
# least this many line heights: a word of six letters or a few short words. A photo's texture taken for
# lines gives short pieces that do not line up.
MIN_ROW_SPAN = 3.5


@dataclass(frozen=True)
class Likelihood:
    score: float  # per mille of the picture covered by lines that look like text
    line_height: float  # median height of those lines, in the picture's own pixels; 0 when none
    lines: int
    # The lines' boxes (left, top, right, bottom) in the picture's own pixels.
    boxes: tuple[tuple[int, int, int, int], ...] = ()


def text_likelihood(grey: np.ndarray) -> Likelihood:
    """The test on a greyscale picture (2-D uint8 array); any size, reduced to TEST_SIDE first.

    Run at two edge steps: the ordinary one finds text on plain grounds; the
    strong one finds outlined captions over busy photos, whose texture joins the
    weaker edges into blobs that no longer look like lines.
    """
    height, width = grey.shape
    if height < 8 or width < 8:
        return Likelihood(0.0, 0.0, 0)
    factor = max(1, -(-max(height, width) // TEST_SIDE))
    small = _reduced(grey, factor)
    covered, heights, boxes = _found(small)
    short = row_span(boxes) < MIN_ROW_SPAN  # also when nothing was found
    flat = short and plain_ground(small)
    if short and not flat:
        # Over a photo, nothing found, or only pieces too short for a line of text: a caption of large
        # bold letters, outlined, is missed the same way (its strokes joined with the photo's edges, or
        # too wide for the filter). At the coarser scale only the strong edge step looks, the step of an
        # outline or a band against its glyphs, which a photo's texture seldom reaches over a whole line.
        # Where pieces were found and that finds no row of lines long enough either, they were the photo's
        # texture.
        factor *= COARSE_FACTOR
        small = _reduced(small, COARSE_FACTOR)
        pieces = bool(heights)
        covered, heights, boxes = _found(small, (STRONG_EDGE_STEP,))
        if pieces and row_span(boxes) < MIN_ROW_SPAN:
            return Likelihood(0.0, 0.0, 0)
    elif flat and not heights:
        # Nothing found on a plain ground: large bold glyphs, whose strokes are wider than the
        # filter joins, fall apart into pieces too short for lines at the test's scale; at a
        # coarser one they are ordinary strokes. Photos are not this flat, so they never pay it.
        factor *= COARSE_FACTOR
        small = _reduced(small, COARSE_FACTOR)
        covered, heights, boxes = _found(small)
    if not heights:
        return Likelihood(0.0, 0.0, 0)
    h, w = small.shape
    # The band adds about two pixels to the glyphs' height (the filter's reach).
    line_height = max(1.0, float(np.median(heights)) - 2) * factor
    scaled = sorted(tuple(v * factor for v in box) for box in boxes)
    return Likelihood(round(1000 * covered / (h * w), 2), line_height, len(scaled), tuple(scaled))


def _found(
    small: np.ndarray, steps: tuple[int, ...] = (EDGE_STEP, STRONG_EDGE_STEP)
) -> tuple[int, list[int], set[tuple[int, int, int, int]]]:
    """The best edge step's covered pixels, and every step's line heights and boxes, in the test's pixels."""
    signed = small.astype(np.int16)
    across = np.abs(np.diff(signed, axis=1))
    down = np.abs(np.diff(signed, axis=0))
    found = [_lines(across, down, step) for step in steps]
    covered = max(f[0] for f in found)
    return covered, [h for f in found for h in f[1]], {box for f in found for box in f[2]}


def plain_ground(small: np.ndarray) -> bool:
    """Whether the picture is a plain ground: nearly all its pixels within FLAT_STEP grey levels of its median."""
    histogram = np.bincount(small.ravel(), minlength=256)
    median = int(np.searchsorted(np.cumsum(histogram), (small.size + 1) // 2))
    near = histogram[max(0, median - FLAT_STEP) : median + FLAT_STEP + 1].sum()
    return bool(near >= FLAT_SHARE * small.size)


def _lines(across: np.ndarray, down: np.ndarray, step: int) -> tuple[int, list[int], list[tuple[int, int, int, int]]]:
    """Pixels covered by lines of text at this edge step, their heights and boxes (in the test's pixels)."""
    h, w = across.shape[0], down.shape[1]
    vertical = np.zeros((h, w), dtype=bool)
    vertical[:, 1:] = across >= step
    horizontal = np.zeros((h, w), dtype=bool)
    horizontal[1:, :] = down >= step
    edges = vertical | horizontal
    # Join the strokes of a line (letter gaps) but not the lines (line spacing): a fifth of a 3 x 9 window.
    labels, count = ndimage.label(_window_count(edges) >= 6)
    covered = 0
    heights: list[int] = []
    boxes: list[tuple[int, int, int, int]] = []
    crowded: list[tuple[int, int, int, int]] = []  # line-like in all but their margins
    if count == 0:
        return covered, heights, boxes
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        rows, cols = box
        bh, bw = rows.stop - rows.start, cols.stop - cols.start
        if bh < MIN_LINE_HEIGHT or bh > h // 3 or bw < MIN_ASPECT * bh:
            continue
        own = labels[box] == index
        if own.mean() < MIN_FILL:
            continue
        # Characters repeat strokes across the line; a single edge (a horizon, a roof) does not.
        middle = vertical[rows.start + bh // 2, cols]
        strokes = np.count_nonzero(middle[1:] & ~middle[:-1])
        if strokes < MIN_STROKES_PER_HEIGHT * bw / bh:
            continue
        # A line of text stands apart: the strips just above and below it hold far fewer edges.
        inside = edges[box].mean()
        margin = max(2, bh // 3)
        above = _up_to_rule(edges[max(0, rows.start - margin) : rows.start, cols][::-1], horizontal, rows.start, cols)
        below = _up_to_rule(edges[rows.stop : rows.stop + margin, cols], horizontal, rows.stop, cols, down=True)
        around = np.concatenate([above.ravel(), below.ravel()])
        if around.size and around.mean() > MAX_MARGIN_RATIO * inside:
            crowded.append((cols.start, rows.start, cols.stop, rows.stop))
            continue
        covered += bh * bw
        heights.append(bh)
        boxes.append((cols.start, rows.start, cols.stop, rows.stop))
    # A caption's next line has the line before it in its margin strip: next to a line that stands
    # apart, a line refused for its margins alone is one. Photos have few lines that stand apart.
    apart = list(boxes)
    for box in crowded if apart else ():
        if any(_adjoining(box, line) for line in apart):
            covered += (box[2] - box[0]) * (box[3] - box[1])
            heights.append(box[3] - box[1])
            boxes.append(box)
    return covered, heights, boxes


def row_span(boxes: Iterable[tuple[int, int, int, int]]) -> float:
    """The longest row of lines, in line heights: lines that overlap down by half and follow across within a height.

    The test often finds a caption's words as separate lines (word spaces wider than its window); side by
    side they make the caption's line.
    """
    longest = 0.0
    ordered = sorted(boxes)
    for start, (left, top, right, bottom) in enumerate(ordered):
        height = bottom - top
        for other in ordered[start + 1 :]:
            if other[0] > right + height:
                break
            overlap = min(bottom, other[3]) - max(top, other[1])
            if overlap >= 0.5 * min(height, other[3] - other[1]):
                right = max(right, other[2])
        longest = max(longest, (right - left) / max(1, height))
    return longest


def _adjoining(box: tuple[int, int, int, int], line: tuple[int, int, int, int]) -> bool:
    """Whether ``box`` lies within half a line above or below ``line`` and overlaps it across."""
    gap = max(box[1] - line[3], line[1] - box[3])
    return gap <= (line[3] - line[1]) // 2 and box[0] < line[2] and line[0] < box[2]


def _up_to_rule(strip: np.ndarray, horizontal: np.ndarray, start: int, cols: slice, down: bool = False) -> np.ndarray:
    """The rows of a margin strip (nearest the line first) before the first rule across the line.

    A caption set on a band over a photo has the band's border just above and
    below its glyphs, and the photo beyond: the line does stand apart, inside its
    band. A rule is a row whose horizontal edges span most of the line's width.
    """
    for offset in range(strip.shape[0]):
        row = start + offset if down else start - 1 - offset
        if np.count_nonzero(horizontal[row, cols]) >= RULE_SHARE * (cols.stop - cols.start):
            return strip[:offset]
    return strip


def _window_count(edges: np.ndarray) -> np.ndarray:
    """Edge pixels in the 3 x 9 window around each pixel, borders mirrored.

    Nine shifted slices added in bytes (a count of at most 27): the same counts a
    uniform filter or running sums give, without a float pass or a cumulative sum
    along rows, which NumPy does a row at a time.
    """
    padded = np.pad(edges, ((1, 1), (4, 4)), mode="symmetric").view(np.uint8)
    width = edges.shape[1]
    across = padded[:, :width].copy()
    for shift in range(1, 9):
        across += padded[:, shift : shift + width]
    return across[:-2] + across[1:-1] + across[2:]


def _reduced(grey: np.ndarray, factor: int) -> np.ndarray:
    """Block mean by ``factor`` (cheap, and keeps thin strokes visible as mid-greys)."""
    if factor == 1:
        return grey
    h2, w2 = grey.shape[0] // factor, grey.shape[1] // factor
    # Summed by strided slices: a few whole-array additions instead of a reduction over two inner axes.
    total = np.zeros((h2, w2), dtype=np.uint32)
    for row in range(factor):
        for col in range(factor):
            total += grey[row : h2 * factor : factor, col : w2 * factor : factor]
    return (total // (factor * factor)).astype(np.uint8)
