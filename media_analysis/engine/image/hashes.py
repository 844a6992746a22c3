"""Perceptual hashes: imagehash's pHash, dHash, average hash and colour hash.

They are the hashes researchers compute elsewhere with imagehash: pHash, dHash and
the average hash are computed by imagehash itself, the colour hash counts the same
pixels into the same bins (below). All four are of the decoded image, which is the
file's full image except for large JPEGs, decoded at reduced DCT scale
(decode.py), whose hashes are imagehash's of that smaller image. Those can differ by
a few bits from imagehash's on the fully decoded file: dHash compares values that
are often nearly tied, and the colour hash counts pixels against fixed thresholds
that averaging moves, so no reduced scale matches them on every file, and decoding
in full multiplies the cost of a large JPEG's analysis. The bench
(bench/hash_agreement.py) measures both against imagehash on the fully decoded file.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np

# imagehash imports scipy's DCT on the first pHash; importing it here keeps that
# cost out of the first analysis of a worker thread.
import scipy.fftpack  # noqa: F401
from PIL import Image, ImageChops

# The sizes the stored hashes have always had: 8x8 bits for pHash, dHash and the
# average hash (16 hex digits), 14 bins of 3 bits for the colour hash (11 hex digits).
HASH_SIZE = 8
COLORHASH_BINBITS = 3


@dataclass(frozen=True)
class PerceptualHashes:
    """The four hashes in imagehash's hex form, as ``str(imagehash.phash(image))`` writes them."""

    phash: str
    dhash: str
    ahash: str
    colorhash: str


def perceptual_hashes(img: Image.Image, grey: Image.Image | None = None) -> PerceptualHashes:
    """imagehash's four hashes of ``img``; ``grey`` is ``img.convert("L")`` when the caller has it.

    imagehash converts its input to greyscale in each of its hashes; converting once
    and handing them the greyscale image gives the same pixels (converting a
    greyscale image to greyscale copies it) for a fraction of the work.
    """
    if grey is None:
        grey = img.convert("L")
    return PerceptualHashes(
        phash=hex_bits(imagehash.phash(grey, hash_size=HASH_SIZE).hash),
        dhash=hex_bits(imagehash.dhash(grey, hash_size=HASH_SIZE).hash),
        ahash=hex_bits(imagehash.average_hash(grey, hash_size=HASH_SIZE).hash),
        colorhash=colour_hash(img, grey),
    )


def hex_bits(bits: np.ndarray) -> str:
    """Booleans as imagehash writes them: the first the highest bit, one hex digit per started four bits.

    ``str(ImageHash)`` builds a string of '0' and '1' characters one element at a
    time; packing the bits gives the same digits.
    """
    flat = np.ravel(bits).astype(bool)
    packed = np.packbits(flat)
    value = int.from_bytes(packed.tobytes(), "big") >> (8 * len(packed) - len(flat))
    return f"{value:0{-(-len(flat) // 4)}x}"


# imagehash's colour hash sorts each pixel into one of 14 bins, from its grey level
# (luma, Pillow's "L") and its hue and saturation (Pillow's "HSV"): black (grey below
# 32); otherwise grey (saturation below 85); otherwise faint colour (saturation below
# 170) or bright colour (above 170), each by hue in six bins, numpy's histogram over
# the edges linspace(0, 255, 7). Pixels of saturation exactly 170 count among the
# colours but in neither hue row: imagehash's own comparisons leave them out.
# Here every pixel gets a code through lookup tables and Pillow counts the codes in
# one histogram, where imagehash masks and sorts millions of values: the same
# counts, from the same conversions, in C.
_BLACK_BELOW = 256 // 8
_GREY_BELOW = 256 // 3
_FAINT_BELOW = 256 * 2 // 3
_HUE_EDGES = np.linspace(0, 255, 6 + 1)
_FAINT, _BRIGHT, _UNBINNED, _GREY, _BLACK = 0, 6, 12, 18, 255


def _hue_bin(value: int) -> int:
    counts, _ = np.histogram([value], bins=_HUE_EDGES)
    return int(np.argmax(counts))


_HUE_CODES = [_hue_bin(value) for value in range(256)]
_SATURATION_CODES = [
    _GREY if s < _GREY_BELOW else _FAINT if s < _FAINT_BELOW else _UNBINNED if s == _FAINT_BELOW else _BRIGHT
    for s in range(256)
]
_BLACK_CODES = [_BLACK if value < _BLACK_BELOW else 0 for value in range(256)]


def colour_hash(img: Image.Image, grey: Image.Image | None = None) -> str:
    """``str(imagehash.colorhash(img, binbits=3))``; ``grey`` is ``img.convert("L")`` when the caller has it."""
    if grey is None:
        grey = img.convert("L")
    hsv = img.convert("HSV")
    hue = hsv.getchannel(0).point(_HUE_CODES)
    saturation = hsv.getchannel(1).point(_SATURATION_CODES)
    # Codes below 255 add without clipping; black, the largest code, wins over the rest.
    codes = ImageChops.lighter(ImageChops.add(hue, saturation), grey.point(_BLACK_CODES))
    histogram = codes.histogram()
    total = grey.width * grey.height
    black = histogram[_BLACK]
    greys = sum(histogram[_GREY : _GREY + 6])
    colours = max(1, sum(histogram[_FAINT : _UNBINNED + 6]))
    levels = 2**COLORHASH_BINBITS
    values = [min(levels - 1, int(black / total * levels)), min(levels - 1, int(greys / total * levels))]
    for count in histogram[_FAINT : _FAINT + 6] + histogram[_BRIGHT : _BRIGHT + 6]:
        values.append(min(levels - 1, int(count * levels * 1.0 / colours)))
    # imagehash writes each value v as the bits (v // 2**(b-1-i) % 2**(b-i) > 0 for i < b):
    # not plain binary (4 is 110), and the stored hashes are in that form.
    bits = [
        value // 2 ** (COLORHASH_BINBITS - i - 1) % 2 ** (COLORHASH_BINBITS - i) > 0
        for value in values
        for i in range(COLORHASH_BINBITS)
    ]
    return hex_bits(np.array(bits))
