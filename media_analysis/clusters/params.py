"""What the clusters package shares: the engine's parameters and input, and the constants of its queries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from django.conf import settings
from django.db.models.functions import Coalesce

from media_analysis.engine.duplicates.clusterer import ClusterParams
from media_analysis.engine.duplicates.hashes import HashedImage, parse_hex_hash, parse_region_hashes
from media_analysis.engine.duplicates.relation import Member

WRITE_BATCH = 500
# Ids per IN (...) list: below SQLite's historical limit of 999 parameters.
IN_CHUNK = 900
EARLIEST = datetime.min.replace(tzinfo=UTC)

# When a member appeared: its page's publication date, else fetch date, else crawl date.
APPEARED_AT = Coalesce("expression__published_at", "expression__fetched_at", "expression__created_at")


def cluster_params() -> ClusterParams:
    return ClusterParams(phash_threshold=settings.MEDIA_ANALYSIS_DUPLICATE_THRESHOLD)


def _hash_or_none(value: str | None, bits: int) -> int | None:
    # Imported lands may hold hashes of another size or plain garbage: such a hash
    # cannot be compared, the image keeps its other hashes.
    try:
        number = parse_hex_hash(value)
    except ValueError:
        return None
    return number if number is not None and number < (1 << bits) else None


def _regions_or_none(value: str | None) -> tuple[tuple[int, ...], tuple[int, ...], bool] | None:
    # Hashes of an older layout (or damaged) are left out: the image keeps its whole-image hashes.
    try:
        return parse_region_hashes(value)
    except ValueError:
        return None


def hashed_item(
    media_id: int,
    sha: str | None,
    phash: str | None,
    dhash: str | None,
    colorhash: str | None,
    region_hashes: str | None = None,
) -> HashedImage | None:
    sha = sha.strip().lower() if sha and sha.strip() else None
    regions = _regions_or_none(region_hashes)
    item = HashedImage(
        key=media_id,
        sha256=sha,
        phash=_hash_or_none(phash, 64),
        dhash=_hash_or_none(dhash, 64),
        colorhash=_hash_or_none(colorhash, 128),
        region_phashes=regions[0] if regions else None,
        region_dhashes=regions[1] if regions else None,
        trimmed=regions[2] if regions else False,
    )
    return item if item.sha256 or item.phash is not None else None


def chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ids = sorted(ids)
    for start in range(0, len(ids), IN_CHUNK):
        yield ids[start : start + IN_CHUNK]


# Pillow modes of a picture without colour: a member in one of them is a greyscale copy.
GREYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


def relation_member(
    media_id: int,
    sha: str | None,
    phash: str | None,
    dhash: str | None,
    colorhash: str | None,
    region_hashes: str | None,
    width: int | None,
    height: int | None,
    color_mode: str | None,
) -> Member:
    """What :func:`~media_analysis.engine.duplicates.relation.relation` needs of a media row."""
    item = hashed_item(media_id, sha, phash, dhash, colorhash, region_hashes) or HashedImage(key=media_id)
    return Member(item, width=width, height=height, greyscale=(color_mode or "") in GREYSCALE_MODES)
