"""Manual corrections of a land's clusters: merges, splits, and their undo.

A correction is stored as links between media (must-links for a merge, cannot-links
for a split) that every later run of the land applies, and is applied at once by a
full recomputation (:func:`~media_analysis.clusters.compute.recluster_land`). Each one
is also recorded as a :class:`~media_analysis.models.ClusterCorrection` holding the
links it wrote and those it replaced, so that :func:`undo_correction` can put them
back; an undo is a correction too, and can be undone in turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from lands.models import Media
from media_analysis.clusters.compute import ClusterReport, recluster_land
from media_analysis.clusters.params import WRITE_BATCH, chunks
from media_analysis.engine.duplicates.clusterer import split_links
from media_analysis.errors import InvalidParameters
from media_analysis.models import (
    ClusterCorrection,
    ClusterCorrectionKind,
    ClusterLink,
    ClusterLinkKind,
    ImageCluster,
)

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
    correction_id: int | None = None


Triple = list  # [media_a, media_b, kind], smaller id first


def _existing_links(land_id: int, pairs: Iterable[tuple[int, int]]) -> list[Triple]:
    """The stored links of these pairs, as triples: what writing over them replaces."""
    wanted = {(min(a, b), max(a, b)) for a, b in pairs if a != b}
    found: list[Triple] = []
    for chunk in chunks({a for a, _ in wanted}):
        for a, b, kind in ClusterLink.objects.filter(land_id=land_id, media_a_id__in=chunk).values_list(
            "media_a_id", "media_b_id", "kind"
        ):
            if (a, b) in wanted:
                found.append([a, b, kind])
    return sorted(found)


def _delete_pairs(land_id: int, pairs: Iterable[tuple[int, int]]) -> None:
    by_first: dict[int, set[int]] = {}
    for a, b in pairs:
        by_first.setdefault(min(a, b), set()).add(max(a, b))
    for chunk in chunks(by_first):
        stored = ClusterLink.objects.filter(land_id=land_id, media_a_id__in=chunk).values_list(
            "id", "media_a_id", "media_b_id"
        )
        doomed = [pk for pk, a, b in stored if b in by_first[a]]
        for ids in chunks(doomed):
            ClusterLink.objects.filter(pk__in=ids).delete()


def _cluster_ids_of(media_ids: Iterable[int]) -> list[int]:
    return sorted(
        {
            cid
            for chunk in chunks(media_ids)
            for cid in Media.objects.filter(pk__in=chunk, cluster__isnull=False).values_list("cluster_id", flat=True)
        }
    )


def _members_of(cluster_ids: Iterable[int]) -> list[int]:
    return sorted(Media.objects.filter(cluster_id__in=list(cluster_ids)).values_list("id", flat=True))


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
        members = _members_of(both)
        withdrawn = ClusterLink.objects.filter(
            land_id=first.land_id,
            kind=ClusterLinkKind.CANNOT,
            media_a__cluster_id__in=both,
            media_b__cluster_id__in=both,
        )
        pair = (min(first.key, second.key), max(first.key, second.key))
        removed = sorted(
            [list(row) for row in withdrawn.values_list("media_a_id", "media_b_id", "kind")]
            + [t for t in _existing_links(first.land_id, [pair]) if t[2] != ClusterLinkKind.CANNOT]
        )
        withdrawn.delete()
        now = timezone.now()
        links = _store_links(first.land_id, [pair], ClusterLinkKind.MUST, _user_or_none(user), now)
        report = recluster_land(first.land_id)
        merged = Media.objects.filter(pk=first.key).values_list("cluster_id", flat=True).first()
        correction = ClusterCorrection.objects.create(
            land_id=first.land_id,
            kind=ClusterCorrectionKind.MERGE,
            source_clusters=both,
            result_clusters=[merged] if merged else [],
            members=members,
            added=[[*pair, ClusterLinkKind.MUST.value]],
            removed=removed,
            created_by=_user_or_none(user),
            created_at=now,
        )
    return CorrectionResult(
        links=links, report=report, cluster_ids=[merged] if merged else [], correction_id=correction.pk
    )


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
        removed = _existing_links(cluster.land_id, pairs)
        now = timezone.now()
        links = _store_links(cluster.land_id, pairs, ClusterLinkKind.CANNOT, _user_or_none(user), now)
        report = recluster_land(cluster.land_id)
        ids = _cluster_ids_of(members)
        correction = ClusterCorrection.objects.create(
            land_id=cluster.land_id,
            kind=ClusterCorrectionKind.SPLIT,
            source_clusters=[cluster.pk],
            result_clusters=ids,
            members=sorted(members),
            detached=sorted(detach),
            added=[[min(a, b), max(a, b), ClusterLinkKind.CANNOT.value] for a, b in pairs if a != b],
            removed=removed,
            created_by=_user_or_none(user),
            created_at=now,
        )
    return CorrectionResult(
        links=links,
        report=report,
        cluster_ids=ids,
        moved_with_identical=identical,
        correction_id=correction.pk,
    )


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


def dependent_corrections(correction: ClusterCorrection) -> list[ClusterCorrection]:
    """Later corrections in effect that touch the same images: they must be undone first.

    A later correction and an undo that cancelled it leave nothing to depend on; an undo
    of that undo puts the later correction back in effect.
    """
    chain = dict(ClusterCorrection.objects.filter(land_id=correction.land_id).values_list("pk", "undoes_id"))
    undone = {target for target in chain.values() if target is not None}

    def root_and_depth(pk: int) -> tuple[int, int]:
        depth = 0
        while chain.get(pk) is not None:
            pk, depth = chain[pk], depth + 1
        return pk, depth

    in_effect = []
    for pk in sorted(chain):
        if pk <= correction.pk or pk in undone:
            continue
        root, depth = root_and_depth(pk)
        if root > correction.pk and depth % 2 == 1:
            continue  # cancels a later correction
        in_effect.append(pk)
    mine = set(correction.members)
    later = ClusterCorrection.objects.filter(pk__in=in_effect).order_by("pk")
    return [other for other in later if mine.intersection(other.members)]


def undo_correction(correction: ClusterCorrection | int, user=None) -> CorrectionResult:
    """Undo a merge, a split or an undo: its links are withdrawn, those it replaced come back.

    The land is then clustered again, so the images it changed are grouped as before it
    (unless the hashes changed meanwhile). Refused when it was already undone or when a
    later correction still in effect touches the same images; the message names them.
    """
    with transaction.atomic():
        pk = correction.pk if isinstance(correction, ClusterCorrection) else correction
        found = ClusterCorrection.objects.select_for_update().filter(pk=pk).first()
        if found is None:
            raise InvalidParameters(f"Correction {pk} does not exist", {"correction": ["unknown"]})
        if ClusterCorrection.objects.filter(undoes=found).exists():
            raise InvalidParameters(
                f"Correction {found.pk} was already undone: undo its undo instead", {"correction": ["already undone"]}
            )
        blocking = dependent_corrections(found)
        if blocking:
            names = ", ".join(f"{other.get_kind_display().lower()} {other.pk}" for other in blocking[:10])
            raise InvalidParameters(
                f"Correction {found.pk} cannot be undone: later corrections change the same images ({names}); "
                "undo them first, latest first",
                {"correction": ["later corrections depend on it"]},
            )
        members = list(found.members)
        before = _cluster_ids_of(members)
        added = [(int(a), int(b)) for a, b, _kind in found.added]
        _delete_pairs(found.land_id, added)
        now = timezone.now()
        by_kind: dict[str, list[tuple[int, int]]] = {}
        for a, b, kind in found.removed:
            by_kind.setdefault(kind, []).append((int(a), int(b)))
        links = sum(
            _store_links(found.land_id, pairs, kind, _user_or_none(user), now) for kind, pairs in by_kind.items()
        )
        report = recluster_land(found.land_id)
        after = _cluster_ids_of(members)
        try:
            # The one-to-one ``undoes`` refuses a second undo that raced this one past the check above.
            with transaction.atomic():
                undo = _record_undo(found, before, after, members, user, now)
        except IntegrityError:
            raise InvalidParameters(
                f"Correction {found.pk} was already undone: undo its undo instead", {"correction": ["already undone"]}
            ) from None
    return CorrectionResult(links=links, report=report, cluster_ids=after, correction_id=undo.pk)


def _record_undo(
    found: ClusterCorrection, before: list[int], after: list[int], members: list[int], user, now: datetime
) -> ClusterCorrection:
    return ClusterCorrection.objects.create(
        land_id=found.land_id,
        kind=ClusterCorrectionKind.UNDO,
        undoes=found,
        source_clusters=before,
        result_clusters=after,
        members=members,
        detached=list(found.detached),
        added=list(found.removed),
        removed=list(found.added),
        created_by=_user_or_none(user),
        created_at=now,
    )


def surviving_cluster(cluster_id: int) -> int | None:
    """Where the images of a cluster id gone in a correction are now, if in one cluster.

    The latest correction that listed the id among the clusters it changed tells its
    members; the cluster most of them belong to now is the answer.
    """
    for correction in ClusterCorrection.objects.order_by("-pk").only("pk", "source_clusters", "members")[:500]:
        if cluster_id in correction.source_clusters:
            counts: dict[int, int] = {}
            for chunk in chunks(correction.members):
                for cid in Media.objects.filter(pk__in=chunk, cluster__isnull=False).values_list(
                    "cluster_id", flat=True
                ):
                    counts[cid] = counts.get(cid, 0) + 1
            return max(counts, key=lambda cid: (counts[cid], -cid)) if counts else None
    return None
