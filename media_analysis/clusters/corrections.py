"""Manual corrections of a land's clusters: merges and splits.

A correction is stored as links between media (must-links for a merge, cannot-links
for a split) that every later run of the land applies, and is applied at once by a
full recomputation (:func:`~media_analysis.clusters.compute.recluster_land`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from lands.models import Media
from media_analysis.clusters.compute import ClusterReport, recluster_land
from media_analysis.clusters.params import WRITE_BATCH, chunks
from media_analysis.engine.duplicates.clusterer import split_links
from media_analysis.errors import InvalidParameters
from media_analysis.models import ClusterLink, ClusterLinkKind, ImageCluster

# A split stores one cannot-link per pair across the two sides (identical files
# counted once); past this many the request is refused rather than stored.
MAX_SPLIT_LINKS = 250_000


@dataclass
class CorrectionResult:
    """A merge or a split: the stored links and the recomputation that applied them."""

    links: int
    report: ClusterReport
    cluster_ids: list[int] = field(default_factory=list)
    moved_with_identical: list[int] = field(default_factory=list)


def _store_links(land_id: int, pairs: Iterable[tuple[int, int]], kind: str, user, now: datetime) -> int:
    links = [
        ClusterLink(
            land_id=land_id, media_a_id=min(a, b), media_b_id=max(a, b), kind=kind, created_by=user, created_at=now
        )
        for a, b in pairs
        if a != b
    ]
    # A newer decision on a pair replaces the older one (a merge after a split, and back).
    ClusterLink.objects.bulk_create(
        links,
        batch_size=WRITE_BATCH,
        update_conflicts=True,
        unique_fields=["media_a", "media_b"],
        update_fields=["land", "kind", "created_by", "created_at"],
    )
    return len(links)


def _cluster(value: ImageCluster | int) -> ImageCluster:
    pk = value.pk if isinstance(value, ImageCluster) else value
    cluster = ImageCluster.objects.filter(pk=pk).only("id", "land_id", "key", "size").first()
    if cluster is None:
        raise InvalidParameters(f"Cluster {pk} does not exist (recomputed meanwhile?)", {"cluster": ["unknown"]})
    return cluster


def _user_or_none(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def merge_clusters(a: ImageCluster | int, b: ImageCluster | int, user=None) -> CorrectionResult:
    """Declare two clusters the same picture; the merge survives every recomputation.

    Stored as a must-link between the clusters' smallest members. Splits made earlier
    between the two are withdrawn. Returns the id of the merged cluster.
    """
    with transaction.atomic():
        first, second = _cluster(a), _cluster(b)
        if first.pk == second.pk:
            raise InvalidParameters("A cluster cannot be merged with itself", {"cluster": ["choose two clusters"]})
        if first.land_id != second.land_id:
            raise InvalidParameters("Clusters of different lands cannot be merged", {"cluster": ["not the same land"]})
        both = [first.pk, second.pk]
        ClusterLink.objects.filter(
            land_id=first.land_id,
            kind=ClusterLinkKind.CANNOT,
            media_a__cluster_id__in=both,
            media_b__cluster_id__in=both,
        ).delete()
        links = _store_links(
            first.land_id, [(first.key, second.key)], ClusterLinkKind.MUST, _user_or_none(user), timezone.now()
        )
        report = recluster_land(first.land_id)
        merged = Media.objects.filter(pk=first.key).values_list("cluster_id", flat=True).first()
    return CorrectionResult(links=links, report=report, cluster_ids=[merged] if merged else [])


def split_cluster(cluster: ImageCluster | int, members_to_detach: Iterable[int | str], user=None) -> CorrectionResult:
    """Separate ``members_to_detach`` from the rest of the cluster, for good.

    Stored as cannot-links between the two sides. Identical files cannot be told
    apart, so a member goes along with every member of the same SHA-256 (listed in
    ``moved_with_identical``). The detached side may end as one cluster, several, or
    lone images, according to the hashes; later images join the side they are
    closest to.
    """
    with transaction.atomic():
        cluster = _cluster(cluster)
        members = dict(Media.objects.filter(cluster_id=cluster.pk).values_list("id", "image_hash"))
        try:
            detach = {int(mid) for mid in members_to_detach}
        except (TypeError, ValueError):
            raise InvalidParameters("Members are media ids", {"members": ["not a media id"]}) from None
        unknown = sorted(detach - set(members))
        if unknown:
            raise InvalidParameters(
                f"Not members of cluster {cluster.pk}: {', '.join(map(str, unknown[:20]))}",
                {"members": ["unknown members"]},
            )
        if not detach:
            raise InvalidParameters("Choose the members to detach", {"members": ["none chosen"]})
        shas = {sha.strip().lower() for sha in (members[mid] for mid in detach) if sha and sha.strip()}
        identical = sorted(
            mid for mid, sha in members.items() if mid not in detach and sha and sha.strip().lower() in shas
        )
        detach.update(identical)
        stay = set(members) - detach
        if not stay:
            raise InvalidParameters(
                "Every member would be detached: keep at least one (identical files move together)",
                {"members": ["nothing would stay"]},
            )
        pairs = split_links(_one_per_file(detach, members), _one_per_file(stay, members))
        if len(pairs) > MAX_SPLIT_LINKS:
            raise InvalidParameters(
                f"This split needs {len(pairs):,} links (limit {MAX_SPLIT_LINKS:,}): detach fewer members",
                {"members": ["too many"]},
            )
        links = _store_links(cluster.land_id, pairs, ClusterLinkKind.CANNOT, _user_or_none(user), timezone.now())
        report = recluster_land(cluster.land_id)
        ids = sorted(
            {
                cid
                for chunk in chunks(members)
                for cid in Media.objects.filter(pk__in=chunk, cluster__isnull=False).values_list(
                    "cluster_id", flat=True
                )
            }
        )
    return CorrectionResult(links=links, report=report, cluster_ids=ids, moved_with_identical=identical)


def _one_per_file(ids: Iterable[int], shas: Mapping[int, str | None]) -> list[int]:
    # Identical files are joined before any cannot-link is read: one of them speaks for all.
    seen: set[str] = set()
    kept: list[int] = []
    for mid in sorted(ids):
        sha = (shas.get(mid) or "").strip().lower()
        if sha:
            if sha in seen:
                continue
            seen.add(sha)
        kept.append(mid)
    return kept
