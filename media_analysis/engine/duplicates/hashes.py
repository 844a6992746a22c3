"""The hashes as the engine sees them: hex parsing, one image or many, Hamming distance, mirrors.

A land holds a hundred thousand images or more, each with a few hundred hex digits of
hashes: :class:`HashArrays` keeps them as numpy columns, parsed with one
``bytes.fromhex`` per column (:func:`parse_hex_column`, :func:`parse_region_column`)
instead of Python integers and tuples per image. :class:`HashedImage` is one image, for
callers that handle a few.

pHash and dHash change completely under a left-right flip, but both can be predicted
from the original's hash: :func:`mirror_phash` (approximate) and :func:`mirror_dhash`
(exact but for ties), so that a picture can be searched as its own mirror image.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from media_analysis.engine.image.regions import BOX_DIGITS, HEX_LENGTH, REGION_COUNT, RegionHashes

if TYPE_CHECKING:
    from media_analysis.engine.image.analyse import ImageAnalysis

HASH_BITS = 64
_WHOLE_BOX = RegionHashes(box=(0, 0, 1000, 1000), hashes=()).hex()  # nothing trimmed
_WHOLE_BOX_BYTES = np.frombuffer(bytes.fromhex(_WHOLE_BOX), dtype=np.uint8)
_HEX = re.compile(r"\s*([0-9a-fA-F]+)\s*")
_U64 = (1 << 64) - 1
# Values decoded by one bytes.fromhex: a malformed value sends only its own chunk to
# the per-value parser.
_COLUMN_CHUNK = 4096


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

    @classmethod
    def from_analysis(cls, key: int, analysis: ImageAnalysis) -> HashedImage:
        """Build from an analysis's result, as its values would be stored on the media row."""
        return cls.from_hex(
            key,
            sha256=analysis.image_hash,
            phash=analysis.phash,
            dhash=analysis.dhash,
            colorhash=analysis.colorhash,
            region_hashes=analysis.region_hashes,
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
    raw = bytes.fromhex(text[BOX_DIGITS:])
    if len(raw) != 16 * REGION_COUNT:
        # bytes.fromhex skips spaces between digit pairs: the value had fewer digits than its length.
        raise ValueError("region hashes hold something else than hex digits")
    # One conversion for all the values: a land holds a million of them.
    values = np.frombuffer(raw, dtype=">u8").tolist()
    return tuple(values[0::2]), tuple(values[1::2]), text[:BOX_DIGITS].lower() != _WHOLE_BOX


def _lenient_hash(value: str, bits: int) -> int | None:
    try:
        number = parse_hex_hash(value)
    except ValueError:
        return None
    return number if number is not None and number < (1 << bits) else None


def _sort_out(values: Sequence[str | None], fits: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the non-empty values whose length ``fits`` (for one bytes.fromhex), and rows of the others."""
    lengths = np.fromiter((len(value) if value else 0 for value in values), dtype=np.intp, count=len(values))
    given = lengths > 0
    fast = given & fits(lengths)
    return np.flatnonzero(fast), np.flatnonzero(given & ~fast)


def _fromhex_chunks(texts: Sequence[str], digits: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Decode ``texts`` (the values at ``rows``, ``digits`` hex digits each if well formed), a chunk at a time.

    Returns the rows decoded, their bytes (``digits // 2`` a row), and the rows of the
    chunks that held something else, for the per-value parser.
    """
    done: list[np.ndarray] = []
    decoded: list[np.ndarray] = []
    failed: list[int] = []
    for start in range(0, len(texts), _COLUMN_CHUNK):
        chunk = texts[start : start + _COLUMN_CHUNK]
        try:
            raw = bytes.fromhex("".join(chunk))
        except ValueError:
            raw = b""
        # fromhex skips whitespace between digit pairs: a full length means digits only.
        if len(raw) != len(chunk) * digits // 2:
            failed.extend(rows[start : start + _COLUMN_CHUNK].tolist())
            continue
        done.append(rows[start : start + _COLUMN_CHUNK])
        decoded.append(np.frombuffer(raw, dtype=np.uint8).reshape(len(chunk), digits // 2))
    if not decoded:
        return np.empty(0, dtype=np.intp), np.empty((0, digits // 2), dtype=np.uint8), failed
    return np.concatenate(done), np.concatenate(decoded), failed


def _values_at(values: Sequence[str | None], rows: np.ndarray) -> list[str]:
    """The values at ``rows``, all of them given (non-empty)."""
    chosen = values if len(rows) == len(values) else [values[row] for row in rows.tolist()]
    return [value for value in chosen if value]


def parse_hex_column(values: Sequence[str | None], bits: int = HASH_BITS) -> tuple[np.ndarray, np.ndarray]:
    """Stored hex hashes of many rows: (uint64 words of shape (rows, bits // 64), most significant first; present).

    Lenient, as media rows need it (imported lands hold hashes of other sizes and
    garbage): a value that is absent, blank, not hexadecimal (see :func:`parse_hex_hash`)
    or wider than ``bits`` is absent, and its words are zero. Values of up to ``bits / 4``
    digits are decoded by one ``bytes.fromhex`` per chunk; the others, and chunks that
    fail, go through :func:`parse_hex_hash` one at a time, with the same result.
    """
    if bits <= 0 or bits % HASH_BITS:
        raise ValueError(f"bits must be a multiple of {HASH_BITS}, not {bits}")
    words = bits // HASH_BITS
    digits = bits // 4
    out = np.zeros((len(values), words), dtype=np.uint64)
    present = np.zeros(len(values), dtype=bool)
    rows, slow = _sort_out(values, lambda lengths: lengths <= digits)
    texts = _values_at(values, rows)
    if any(len(text) != digits for text in texts):
        texts = [text.rjust(digits, "0") for text in texts]
    done, decoded, failed = _fromhex_chunks(texts, digits, rows)
    out[done] = decoded.view(">u8").reshape(-1, words)
    present[done] = True
    for row in (*failed, *slow.tolist()):
        number = _lenient_hash(values[row] or "", bits)
        if number is not None:
            out[row] = [(number >> (HASH_BITS * (words - 1 - w))) & _U64 for w in range(words)]
            present[row] = True
    return out, present


@dataclass(frozen=True, eq=False)
class RegionColumns:
    """Region hashes of many rows: pHashes and dHashes of shape (rows, REGION_COUNT), presence, frame trimmed."""

    phashes: np.ndarray
    dhashes: np.ndarray
    present: np.ndarray
    trimmed: np.ndarray


def parse_region_column(values: Sequence[str | None]) -> RegionColumns:
    """Stored ``region_hashes`` of many rows, as :func:`parse_region_hashes` reads each, leniently.

    A value that is absent, blank or of another layout is absent (zero hashes). Values of
    the current length are decoded by one ``bytes.fromhex`` per chunk; the others, and
    chunks that fail, go through :func:`parse_region_hashes` one at a time.
    """
    count = len(values)
    phashes = np.zeros((count, REGION_COUNT), dtype=np.uint64)
    dhashes = np.zeros((count, REGION_COUNT), dtype=np.uint64)
    present = np.zeros(count, dtype=bool)
    trimmed = np.zeros(count, dtype=bool)
    rows, slow = _sort_out(values, lambda lengths: lengths == HEX_LENGTH)
    done, table, failed = _fromhex_chunks(_values_at(values, rows), HEX_LENGTH, rows)
    box_bytes = BOX_DIGITS // 2
    present[done] = True
    # Equal bytes are equal hex digits whatever their case, as the per-value parser compares them.
    trimmed[done] = (table[:, :box_bytes] != _WHOLE_BOX_BYTES).any(axis=1)
    hashes = np.ascontiguousarray(table[:, box_bytes:]).view(">u8").astype(np.uint64)
    phashes[done] = hashes[:, 0::2]
    dhashes[done] = hashes[:, 1::2]
    for row in (*failed, *slow.tolist()):
        try:
            parsed = parse_region_hashes(values[row])
        except ValueError:
            parsed = None
        if parsed is not None:
            phashes[row], dhashes[row], trimmed[row] = parsed
            present[row] = True
    return RegionColumns(phashes, dhashes, present, trimmed)


def _shas(values: Sequence[str | None]) -> np.ndarray:
    shas = np.empty(len(values), dtype=object)
    shas[:] = [value.strip().lower() or None if value else None for value in values]
    return shas


@dataclass(frozen=True, eq=False)
class HashArrays:
    """What clustering needs to know about many images, as columns: one entry per image, ``keys`` the media ids.

    Absent hashes are zero with their ``has_`` flag false. ``colorhash`` holds the
    (high, low) 64-bit words of the colour hash (up to 128 bits); the region arrays
    have one column per region of :data:`~media_analysis.engine.image.regions.REGIONS`.
    """

    keys: np.ndarray  # int64
    sha256: np.ndarray  # object: lower-case hex or None
    phash: np.ndarray  # uint64
    has_phash: np.ndarray
    dhash: np.ndarray
    has_dhash: np.ndarray
    colorhash: np.ndarray  # (n, 2) uint64
    has_colorhash: np.ndarray
    region_phashes: np.ndarray  # (n, REGION_COUNT) uint64
    region_dhashes: np.ndarray
    has_regions: np.ndarray
    trimmed: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, rows: np.ndarray | Sequence[int]) -> HashArrays:
        """The images at these positions (a boolean mask works too), in that order."""
        index = np.asarray(rows)
        if index.dtype != bool:
            index = index.astype(np.intp)
        return HashArrays(**{field.name: getattr(self, field.name)[index] for field in fields(self)})

    @classmethod
    def concatenate(cls, parts: Sequence[HashArrays]) -> HashArrays:
        """The images of ``parts`` one after the other (none: no image)."""
        if not parts:
            return cls.from_items([])
        if len(parts) == 1:
            return parts[0]
        return cls(
            **{field.name: np.concatenate([getattr(part, field.name) for part in parts]) for field in fields(cls)}
        )

    def item(self, row: int) -> HashedImage:
        """The image at this position, as a :class:`HashedImage`."""
        regions = bool(self.has_regions[row])
        colour = (int(self.colorhash[row, 0]) << 64) | int(self.colorhash[row, 1])
        return HashedImage(
            key=int(self.keys[row]),
            sha256=self.sha256[row],
            phash=int(self.phash[row]) if self.has_phash[row] else None,
            dhash=int(self.dhash[row]) if self.has_dhash[row] else None,
            colorhash=colour if self.has_colorhash[row] else None,
            region_phashes=tuple(self.region_phashes[row].tolist()) if regions else None,
            region_dhashes=tuple(self.region_dhashes[row].tolist()) if regions else None,
            trimmed=bool(self.trimmed[row]) and regions,
        )

    @classmethod
    def from_stored(
        cls,
        keys: Sequence[int] | np.ndarray,
        sha256: Sequence[str | None],
        phash: Sequence[str | None],
        dhash: Sequence[str | None],
        colorhash: Sequence[str | None],
        region_hashes: Sequence[str | None],
    ) -> HashArrays:
        """From the columns of media rows, leniently: a hash that cannot be read is absent.

        A pHash or dHash must fit in 64 bits, a colour hash in 128; region hashes of
        another layout are left out (the image keeps its whole-image hashes).
        """
        key_array = np.asarray(keys, dtype=np.int64)
        if not len(sha256) == len(phash) == len(dhash) == len(colorhash) == len(region_hashes) == len(key_array):
            raise ValueError("the columns differ in length")
        p, has_p = parse_hex_column(phash)
        d, has_d = parse_hex_column(dhash)
        c, has_c = parse_hex_column(colorhash, 128)
        regions = parse_region_column(region_hashes)
        return cls(
            keys=key_array,
            sha256=_shas(sha256),
            phash=p[:, 0],
            has_phash=has_p,
            dhash=d[:, 0],
            has_dhash=has_d,
            colorhash=c,
            has_colorhash=has_c,
            region_phashes=regions.phashes,
            region_dhashes=regions.dhashes,
            has_regions=regions.present,
            trimmed=regions.trimmed & regions.present,
        )

    @classmethod
    def from_items(cls, items: Iterable[HashedImage]) -> HashArrays:
        """From :class:`HashedImage` items. ValueError on a hash too wide or a region count other than REGION_COUNT."""
        items = list(items)
        for item in items:
            for name, limit in (("phash", 64), ("dhash", 64), ("colorhash", 128)):
                value = getattr(item, name)
                if value is not None and not 0 <= value < (1 << limit):
                    raise ValueError(f"{name} of key {item.key} does not fit in {limit} bits")
            if item.region_phashes is not None or item.region_dhashes is not None:
                for regions in (item.region_phashes, item.region_dhashes):
                    if regions is None or len(regions) != REGION_COUNT:
                        count = len(regions) if regions is not None else 0
                        raise ValueError(f"key {item.key} has {count} region hashes, not {REGION_COUNT}")
        count = len(items)
        # Both or neither, as checked above.
        pairs = [
            (it.region_phashes, it.region_dhashes)
            for it in items
            if it.region_phashes is not None and it.region_dhashes is not None
        ]
        has_regions = np.array([it.region_phashes is not None for it in items], dtype=bool)
        region_phashes = np.zeros((count, REGION_COUNT), dtype=np.uint64)
        region_dhashes = np.zeros((count, REGION_COUNT), dtype=np.uint64)
        if pairs:
            region_phashes[has_regions] = [phashes for phashes, _ in pairs]
            region_dhashes[has_regions] = [dhashes for _, dhashes in pairs]
        colours = [it.colorhash or 0 for it in items]
        return cls(
            keys=np.array([it.key for it in items], dtype=np.int64),
            sha256=_shas([it.sha256 for it in items]),
            phash=np.array([it.phash or 0 for it in items], dtype=np.uint64),
            has_phash=np.array([it.phash is not None for it in items], dtype=bool),
            dhash=np.array([it.dhash or 0 for it in items], dtype=np.uint64),
            has_dhash=np.array([it.dhash is not None for it in items], dtype=bool),
            colorhash=np.array([(c >> 64, c & _U64) for c in colours], dtype=np.uint64).reshape(count, 2),
            has_colorhash=np.array([it.colorhash is not None for it in items], dtype=bool),
            region_phashes=region_phashes,
            region_dhashes=region_dhashes,
            has_regions=has_regions,
            trimmed=np.array([it.trimmed for it in items], dtype=bool) & has_regions,
        )


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


def colorhash_column_has_colour(colorhash: np.ndarray) -> np.ndarray:
    """:func:`colorhash_has_colour` of many colour hashes, as (high, low) 64-bit words of shape (n, 2)."""
    hi, lo = colorhash[:, 0], colorhash[:, 1]
    return (hi != 0) | (lo >= np.uint64(1 << COLORHASH_BITS)) | ((lo & np.uint64(_HUE_BITS)) != 0)


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
