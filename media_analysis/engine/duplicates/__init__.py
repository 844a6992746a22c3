"""Near-duplicate clustering of images from their hashes (pure Python + numpy, no Django).

Two images are *the same picture* when:

* their SHA-256 digests are equal (same file): always, whatever else is said; or
* their pHash values are within ``phash_threshold`` bits (Hamming distance, 64-bit
  hashes) AND the match is confirmed by a second, differently built hash: the dHash
  within ``dhash_threshold`` bits, or the colour hash within ``colorhash_threshold``
  bits. pHash alone has coincidences between unrelated smooth pictures; asking a
  second opinion removes most of them. The colour hash (``imagehash.colorhash``) is a
  histogram code, not a Hamming-friendly fingerprint, but its distance is defined here
  as the Hamming distance over its bits all the same: close histograms share most bits.
  It is a weak witness between pictures of similar palette (two crops of one photo
  are within 6 bits half of the time), hence its strict default of 2 bits; the dHash
  is the main one (docs/benchmarks/duplicates.md has the measures behind both).
  The colour hashes of two pictures without colour never confirm: every greyscale
  picture has one of a few colour hashes. A pair where neither dHash nor colour hash
  is known on both sides is not linked.

Clusters are the connected components of that relation (single linkage), computed
with a union-find, optionally under manual constraints (see :mod:`.clusterer`).

Which edits this targets: what pHash survives. Resizing, JPEG re-encoding, small
crops (a few per cent), greyscale conversion (pHash and dHash are computed on the
luminance, so the dHash confirms even though the colour hash changes) and small
overlays such as a caption or a watermark. Left-right mirroring too, although pHash
and dHash change completely under a flip: both can be predicted from the original's
hash (:func:`.hashes.mirror_phash`, approximate; :func:`.hashes.mirror_dhash`, exact
but for ties),
so each image is also searched as its own mirror image and confirmed the same way
(``ClusterParams.mirrors``, on by default; it doubles the search time). Framed and
cropped copies are joined through region hashes (:mod:`media_analysis.engine.image.regions`):
the whole of one picture, after trimming a plain frame, within
``region_phash_threshold`` bits of a region of the other (centre, one side cut, one
side cut and another trimmed, centred square), confirmed by the same regions' dHashes; a whole-image match where a
frame was trimmed must be confirmed by the regions. Copies under a semi-transparent band
or mark, whose pHash the band moves, are joined by their dHashes: the trimmed wholes'
within ``overlay_dhash_threshold`` bits and most regions' within
``overlay_region_dhash_threshold`` (``ClusterParams``). Upside-down flips, rotations, large
crops and collages are out of scope. Near-flat pictures (a
sky, a blurred background with a detail in one corner) have unstable hashes and are
where false matches concentrate.

The hash encoders and the search index are kept apart from the clusterer:

* :mod:`.hashes`: parsing stored hex hashes, :class:`HashedImage`, Hamming distance and
  the hashes of a mirrored picture;
* :mod:`.index`: :class:`HammingIndex`, exact radius search by multi-index hashing, which
  finds candidate pairs without comparing all pairs;
* :mod:`.clusterer`: :class:`NearDuplicateClusterer`, confirmation of the candidates,
  connected components and manual corrections (must-links, cannot-links).
"""

from media_analysis.engine.duplicates.clusterer import (
    ClusterParams,
    NearDuplicateClusterer,
    cluster_labels,
    split_links,
)
from media_analysis.engine.duplicates.hashes import (
    HASH_BITS,
    PHASH_MIRROR_MASK,
    HashedImage,
    hamming,
    mirror_dhash,
    mirror_phash,
    parse_hex_hash,
)
from media_analysis.engine.duplicates.index import HammingIndex

__all__ = [
    "HASH_BITS",
    "PHASH_MIRROR_MASK",
    "ClusterParams",
    "HammingIndex",
    "HashedImage",
    "NearDuplicateClusterer",
    "cluster_labels",
    "hamming",
    "mirror_dhash",
    "mirror_phash",
    "parse_hex_hash",
    "split_links",
]
