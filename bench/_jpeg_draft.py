"""What-if for benchmarks: large JPEGs decoded for the analysis at another DCT scale, or in full.

The engine decodes a JPEG whose short side is at least ``decode.JPEG_DRAFT_MIN`` at
the smallest DCT scale keeping ``decode.JPEG_DRAFT_SIDE`` pixels on its short side.
The hash agreement and speed benchmarks measure other choices by changing those two
constants for the time of a measurement; the engine has no setting for them, since
the stored values would then depend on it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from media_analysis.engine.image import analyse, decode
from media_analysis.engine.image.hashes import perceptual_hashes


def label(side: int) -> str:
    return "full decode" if side == 0 else f"draft >= {side} px"


@contextmanager
def jpeg_draft_side(side: int | None) -> Iterator[None]:
    """Within the block, large JPEGs keep at least ``side`` px on their short side; 0: fully decoded; None: as built."""
    saved = decode.JPEG_DRAFT_MIN, decode.JPEG_DRAFT_SIDE
    if side == 0:
        decode.JPEG_DRAFT_MIN = sys.maxsize
    elif side is not None:
        decode.JPEG_DRAFT_SIDE = side
    try:
        yield
    finally:
        decode.JPEG_DRAFT_MIN, decode.JPEG_DRAFT_SIDE = saved


def drafted(size: tuple[int, int]) -> bool:
    """Whether a JPEG of ``size`` is decoded at reduced scale under the current constants."""
    return min(size) >= max(decode.JPEG_DRAFT_MIN, 2 * decode.JPEG_DRAFT_SIDE)


@contextmanager
def hashes_of_reduced_draft(factor: int) -> Iterator[None]:
    """Within the block, a drafted JPEG's four hashes are imagehash's of its draft box-reduced by ``factor``.

    What-if for the hash input: a finer draft, then Pillow's ``reduce`` (a box filter) before
    imagehash's own Lanczos resize, where the engine hands imagehash the draft itself. The
    colours and region hashes still come from the draft.
    """
    original = analyse._fill_pixels_fields

    def filled(
        result: analyse.ImageAnalysis, base: Image.Image, draft_box: decode.Box | None, options: analyse.AnalysisOptions
    ) -> None:
        original(result, base, draft_box, options)
        if draft_box is not None and factor > 1 and result.phash is not None:
            hashes = perceptual_hashes(base.reduce(factor))
            result.phash, result.dhash = hashes.phash, hashes.dhash
            result.ahash, result.colorhash = hashes.ahash, hashes.colorhash

    analyse._fill_pixels_fields = filled
    try:
        yield
    finally:
        analyse._fill_pixels_fields = original
