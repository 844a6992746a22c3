"""The hashes as the engine sees them: hex parsing, :class:`HashedImage`, Hamming distance, mirrors.

pHash and dHash change completely under a left-right flip, but both can be predicted
from the original's hash: :func:`mirror_phash` (approximate) and :func:`mirror_dhash`
(exact but for ties), so that a picture can be searched as its own mirror image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from media_analysis.engine.image.regions import BOX_DIGITS, HEX_LENGTH, RegionHashes

HASH_BITS = 64
_WHOLE_BOX = RegionHashes(box=(0, 0, 1000, 1000), hashes=()).hex()  # nothing trimmed
_HEX = re.compile(r"\s*([0-9a-fA-F]+)\s*")


def parse_hex_hash(value: str | None) -> int | None:
    """Hex string as stored on a media row (``"9db8c2c7445dbb24"``) to an int; None or blank is None.

    Raises ValueError on text that is not hexadecimal (signs, ``0x`` prefixes and inner
    spaces included, which ``int(value, 16)`` would accept).
    """
    if value is None:
        return None
    match = _HEX.fullmatch(value)
    if match is None:
        if value.strip():
            raise ValueError(f"not a hexadecimal hash: {value!r}")
        return None
    return int(match.group(1), 16)


@dataclass(frozen=True)
class HashedImage:
    """What clustering needs to know about one image; ``key`` is the media id."""

    key: int
    sha256: str | None = None
    phash: int | None = None
    dhash: int | None = None
    colorhash: int | None = None
    # pHash and dHash of each region of engine.image.regions.REGIONS (None: not computed),
    # and whether a plain frame was trimmed before taking them.
    region_phashes: tuple[int, ...] | None = None
    region_dhashes: tuple[int, ...] | None = None
    trimmed: bool = False

    @classmethod
    def from_hex(
        cls,
        key: int,
        sha256: str | None = None,
        phash: str | None = None,
        dhash: str | None = None,
        colorhash: str | None = None,
        region_hashes: str | None = None,
    ) -> HashedImage:
        """Build from the hex strings stored on a media row."""
        regions = parse_region_hashes(region_hashes)
        return cls(
            key=key,
            sha256=sha256.strip().lower() if sha256 and sha256.strip() else None,
            phash=parse_hex_hash(phash),
            dhash=parse_hex_hash(dhash),
            colorhash=parse_hex_hash(colorhash),
            region_phashes=regions[0] if regions else None,
            region_dhashes=regions[1] if regions else None,
            trimmed=regions[2] if regions else False,
        )


def parse_region_hashes(value: str | None) -> tuple[tuple[int, ...], tuple[int, ...], bool] | None:
    """(region pHashes, region dHashes, trimmed) from a stored ``region_hashes`` value; None when absent.

    Raises ValueError on a value of another layout.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) != HEX_LENGTH:
        raise ValueError(f"region hashes have {HEX_LENGTH} hex digits, not {len(text)}")
    # One conversion for all the values: a land holds a million of them.
    values = np.frombuffer(bytes.fromhex(text[BOX_DIGITS:]), dtype=">u8").tolist()
    return tuple(values[0::2]), tuple(values[1::2]), text[:BOX_DIGITS].lower() != _WHOLE_BOX


# imagehash.colorhash (binbits 3) is 14 values of 3 bits: the share of black pixels, of
# grey pixels, then 12 hue bins of the coloured pixels, in the last 36 bits.
COLORHASH_BITS = 42
_HUE_BITS = (1 << 36) - 1


def colorhash_has_colour(value: int) -> bool:
    """Whether a colour hash says something of hues: False for a picture without colour (greyscale).

    The colour hash of every greyscale picture is one of a few values (how much of it is
    black or grey), so two of them agreeing says nothing of the pictures. A hash of
    another size is taken as coloured.
    """
    return value >= (1 << COLORHASH_BITS) or value & _HUE_BITS != 0


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


# imagehash.phash (hash_size 8) stores DCT coefficient (row u, column v) at bit
# 63 - (8u + v). A left-right flip negates the coefficients of odd horizontal
# frequency v; the median they are compared to stays close to zero, so those bits
# mostly flip and the others mostly stay.
PHASH_MIRROR_MASK = sum(1 << (63 - (8 * u + v)) for u in range(8) for v in range(1, 8, 2))
# imagehash.dhash (hash_size 8): one byte per row, bit x is "pixel x+1 brighter than
# pixel x". In a flipped row the comparisons come in reverse order and reversed
# direction: reverse the bits of each byte and invert them (exact but for ties).
_DHASH_MIRROR_BYTES = np.array([int(f"{b:08b}"[::-1], 2) ^ 0xFF for b in range(256)], dtype=np.uint8)


def mirror_phash(value: int) -> int:
    """Approximate pHash of the left-right mirrored picture."""
    return value ^ PHASH_MIRROR_MASK


def mirror_dhash(value: int) -> int:
    """dHash of the left-right mirrored picture (exact unless neighbouring pixels tie)."""
    return int(mirror_dhashes(np.array([value], dtype=np.uint64))[0])


def mirror_dhashes(values: np.ndarray) -> np.ndarray:
    return _DHASH_MIRROR_BYTES[values.view(np.uint8)].view(np.uint64)
