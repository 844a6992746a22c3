"""A budget of decoded bytes shared by the threads of a process that analyse images.

An analysis's memory is mostly its decoded pixels and their copies (the
normalised image, the resizes and conversions of the hashes): it grows with the
pixels decoded, not with the file. The analysis threads of a consumer each
decode whatever image comes next, so without a bound their memory depends on
which images happen to coincide: four large PNGs at once hold four times what one
does. ``DecodeBudget`` makes an analysis that would pass the budget wait for
others to finish; it never fails for it, and an image larger than the whole budget
runs alone.

``analysis_memory`` is the estimate each analysis asks for, read from the header
before anything is decoded: the dimensions, the mode, the DCT scale a large JPEG
is decoded at (decode.py), and what the options decode besides (a thumbnail's
second draft, the picture the text is read from).
"""

from __future__ import annotations

import io
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from PIL import Image

from media_analysis.engine.image.decode import JPEG_DRAFT_MIN, JPEG_DRAFT_SIDE, allow_pixels
from media_analysis.engine.image.guarded import BYTES_PER_PIXEL as DEEP_BYTES_PER_PIXEL

if TYPE_CHECKING:
    from media_analysis.engine.image.analyse import AnalysisOptions

# Peak bytes an analysis holds per decoded pixel, by the mode Pillow decodes into. Colour images are held in four
# bytes a pixel, and the analysis makes a few copies of that size (colour hash in HSV, grey levels, resizes);
# one-channel images are held in one byte, but their colour hash still converts them to colour.
# docs/benchmarks/land.md ("a budget of decoded bytes") has the peaks measured per format and mode.
COLOUR_BYTES_PER_PIXEL = 15
GREY_BYTES_PER_PIXEL = 12
_ONE_CHANNEL = frozenset({"1", "L", "P"})
_DEEP = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
# What any analysis holds besides its pixels (the thumbnail, the colour sample, the hashes' small images).
BASE_BYTES = 4 * 1024 * 1024
# Bytes per pixel of the grey picture the text is read from, and of the recogniser's copies of it.
TEXT_BYTES_PER_PIXEL = 4


def _jpeg_scale(width: int, height: int) -> int:
    """The DCT scale denominator (1, 2, 4 or 8) a JPEG of this size is decoded at for the analysis.

    decode.py asks Pillow for a draft of JPEG_DRAFT_SIDE pixels on the short side; Pillow takes the largest
    scale that keeps both sides at least that draft's.
    """
    short = min(width, height)
    if short < max(JPEG_DRAFT_MIN, 2 * JPEG_DRAFT_SIDE):
        return 1
    target = max(1, JPEG_DRAFT_SIDE * width // short), max(1, JPEG_DRAFT_SIDE * height // short)
    room = min(width // target[0], height // target[1])
    return next((scale for scale in (8, 4, 2) if scale <= room), 1)


def _per_pixel(mode: str) -> int:
    if mode in _DEEP:
        return DEEP_BYTES_PER_PIXEL
    if mode in _ONE_CHANNEL:
        return GREY_BYTES_PER_PIXEL
    return COLOUR_BYTES_PER_PIXEL


def analysis_memory(content: bytes, options: AnalysisOptions) -> int:
    """The bytes an analysis of ``content`` is expected to hold at its peak, from its header alone.

    Content that does not open (not an image, a damaged header) is refused by the
    analysis before it decodes anything: it costs the base only. Nothing is
    decoded here; Pillow reads the header lazily.
    """
    allow_pixels(options.max_pixels)  # an image the options allow is not taken for a bomb by Pillow's own limit
    try:
        with Image.open(io.BytesIO(content), formats=options.image_formats) as img:
            width, height = img.size
            mode, image_format = img.mode, img.format
    except Exception:
        return BASE_BYTES
    if width <= 0 or height <= 0:
        return BASE_BYTES
    pixels = width * height
    if pixels > options.max_pixels:
        return BASE_BYTES  # refused before decoding
    decoded = pixels
    if image_format in ("JPEG", "MPO"):
        scale = _jpeg_scale(width, height)
        decoded = -(-width // scale) * -(-height // scale)
        if scale > 1 and options.thumbnail_size > 0 and options.thumbnail_redecode:
            # A second draft, large enough for the thumbnail, is decoded beside the first.
            side = min(options.thumbnail_size, max(width, height))
            decoded += side * side * 4 // 3
    cost = BASE_BYTES + decoded * _per_pixel(mode)
    if options.text is not None:
        side = min(options.text.max_side, max(width, height))
        cost += side * side * TEXT_BYTES_PER_PIXEL
    return cost


class DecodeBudget:
    """At most ``capacity`` bytes of analyses at once, in the order they asked; 0 for no bound.

    An analysis asking for more than the whole capacity runs when none other
    does, alone. The order is first come, first served: a large analysis waiting
    is not passed by small ones arriving after it, so it is never starved.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._cond = threading.Condition()
        self._used = 0
        self._running = 0
        self._waiting: deque[object] = deque()
        self._peak = 0

    @property
    def used(self) -> int:
        with self._cond:
            return self._used

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    @property
    def peak(self) -> int:
        """The most bytes held at once since the budget was made (past the capacity only by one analysis alone)."""
        with self._cond:
            return self._peak

    def _fits(self, ticket: object, cost: int) -> bool:
        if self._waiting[0] is not ticket:
            return False
        return self._running == 0 or self._used + cost <= self.capacity

    @contextmanager
    def hold(self, cost: int, give_up: Callable[[], bool] | None = None, poll: float = 0.2) -> Iterator[bool]:
        """Hold ``cost`` bytes of the budget for the block; yields True once held.

        ``give_up``, asked every ``poll`` seconds while waiting: when it answers
        True the wait ends without the bytes and the block gets False (a
        cancelled job's analysis need not wait). Whatever ends the block, an
        exception included, gives the bytes back.
        """
        if self.capacity == 0:
            yield True
            return
        cost = max(0, cost)
        ticket = object()
        with self._cond:
            self._waiting.append(ticket)
            try:
                while not self._fits(ticket, cost):
                    if give_up is not None and give_up():
                        break
                    self._cond.wait(poll if give_up is not None else None)
                held = self._fits(ticket, cost)
            finally:
                # Whether it got its turn, gave up or was interrupted, it waits no more: the next may go.
                self._waiting.remove(ticket)
                self._cond.notify_all()
            if held:
                self._used += cost
                self._running += 1
                self._peak = max(self._peak, self._used)
        if not held:
            yield False
            return
        try:
            yield True
        finally:
            with self._cond:
                self._used -= cost
                self._running -= 1
                self._cond.notify_all()
