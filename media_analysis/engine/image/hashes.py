"""Perceptual hashes: imagehash's pHash, dHash, average hash and colour hash.

Computed by imagehash itself, so that they are the hashes researchers compute
elsewhere with it: on the decoded image, which is the file's full image except for
large JPEGs, decoded at reduced DCT scale (decode.py), whose hashes are imagehash's
of that smaller image. Those can differ by a few bits from imagehash's on the fully
decoded file: dHash compares values that are often nearly tied, and the colour hash
counts pixels against fixed thresholds that averaging moves, so no reduced scale
matches them on every file, and decoding in full multiplies the cost of a large
JPEG's analysis. The bench (bench/hash_agreement.py) measures both against imagehash
on the fully decoded file.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash

# imagehash imports scipy's DCT on the first pHash; importing it here keeps that
# cost out of the first analysis of a worker thread.
import scipy.fftpack  # noqa: F401
from PIL import Image

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


def perceptual_hashes(img: Image.Image) -> PerceptualHashes:
    """imagehash's four hashes of ``img``.

    imagehash converts its input to greyscale in each of pHash, dHash and the
    average hash; converting once and handing them the greyscale image gives the
    same pixels (converting a greyscale image to greyscale copies it) for a third
    of the work.
    """
    grey = img.convert("L")
    return PerceptualHashes(
        phash=str(imagehash.phash(grey, hash_size=HASH_SIZE)),
        dhash=str(imagehash.dhash(grey, hash_size=HASH_SIZE)),
        ahash=str(imagehash.average_hash(grey, hash_size=HASH_SIZE)),
        colorhash=str(imagehash.colorhash(img, binbits=COLORHASH_BINBITS)),
    )
