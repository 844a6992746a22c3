"""Near-duplicate clustering of images from their hashes (pure Python + numpy, no Django)."""

from media_analysis.engine.duplicates.clusterer import (
    HASH_BITS,
    PHASH_MIRROR_MASK,
    ClusterParams,
    HammingIndex,
    HashedImage,
    NearDuplicateClusterer,
    cluster_labels,
    hamming,
    mirror_dhash,
    mirror_phash,
    parse_hex_hash,
    split_links,
)

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
