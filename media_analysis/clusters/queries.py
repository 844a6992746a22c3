"""Reading a land's clusters for the admin pages and the API: lists, previews, a cluster's details."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Case, F, IntegerField, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber

from lands.models import Media
from media_analysis.clusters.params import APPEARED_AT, EARLIEST, hashed_item, relation_member
from media_analysis.engine.duplicates.hashes import HashedImage, hamming, mirror_dhash, mirror_phash
from media_analysis.engine.duplicates.relation import Member, relation
from media_analysis.errors import InvalidParameters
from media_analysis.models import ClusterCorrection, ClusterLinkKind, ImageCluster, LandClustering

CLUSTER_ORDERINGS: dict[str, tuple[Any, ...]] = {
    # Spread first: an image shown by many sites is what researchers look for.
    "spread": ("-distinct_domains", "-size", "id"),
    "size": ("-size", "-distinct_domains", "id"),
    "first_seen": (F("first_seen_at").asc(nulls_last=True), "id"),
    "recent": (F("first_seen_at").desc(nulls_last=True), "-id"),
}


def clusters_of_land(land_id: int, ordering: str = "spread") -> QuerySet[ImageCluster]:
    """A land's clusters with their representative, first page and first domain joined (one query)."""
    if ordering not in CLUSTER_ORDERINGS:
        raise InvalidParameters(
            f"Unknown ordering {ordering!r}", {"ordering": [f"choose among {', '.join(CLUSTER_ORDERINGS)}"]}
        )
    return (
        ImageCluster.objects.filter(land_id=land_id)
        .select_related("representative", "first_expression", "first_domain")
        .only(
            "id",
            "land_id",
            "key",
            "size",
            "distinct_domains",
            "distinct_pages",
            "first_seen_at",
            "updated_at",
            "representative__id",
            "representative__url",
            "representative__width",
            "representative__height",
            "first_expression__id",
            "first_expression__url",
            "first_expression__title",
            "first_domain__id",
            "first_domain__name",
        )
        .order_by(*CLUSTER_ORDERINGS[ordering])
    )


def member_previews(cluster_ids: Iterable[int], per_cluster: int = 8) -> dict[int, list[Media]]:
    """Up to ``per_cluster`` members of each cluster, representative first, in one query."""
    cluster_ids = list(cluster_ids)
    if not cluster_ids:
        return {}
    representative_first = Case(
        When(pk=F("cluster__representative_id"), then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    queryset = (
        Media.objects.filter(cluster_id__in=cluster_ids)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("cluster_id")], order_by=[representative_first.asc(), F("id").asc()]
            )
        )
        .filter(rank__lte=per_cluster)
        .only("id", "url", "type", "width", "height", "cluster_id", "thumbnail_key", "analysis_status", "error_class")
        .order_by("cluster_id", "rank")
    )
    previews: dict[int, list[Media]] = defaultdict(list)
    for media in queryset:
        assert media.cluster_id is not None  # filtered on cluster_id__in above
        previews[media.cluster_id].append(media)
    return dict(previews)


@dataclass(frozen=True)
class Appearance:
    """A member on its page: the timeline's entry."""

    media_id: int
    media_url: str
    page_id: int
    page_url: str
    page_title: str | None
    domain_id: int
    domain: str
    date: datetime | None
    date_source: str  # "published", "fetched" or "crawled": which page date ``date`` is


@dataclass(frozen=True)
class Distance:
    """Between two members: pHash bits (to the mirror image's when that is closer), dHash bits."""

    phash: int | None
    dhash: int | None
    mirrored: bool = False
    identical: bool = False


@dataclass
class ClusterDetails:
    cluster: ImageCluster
    members: list[Media]  # representative first, then by appearance; at most the limit, from the offset
    member_count: int
    timeline: list[Appearance]  # the shown members, earliest first (unknown dates last)
    domains: list[tuple[str, int, int]]  # (domain, pages, media), most media first
    first: Appearance | None
    distance_members: list[Media]
    distances: list[list[Distance | None]]  # square, None on the diagonal
    # Every member's appearance: (domain, date, "published" / "fetched" / "crawled"), earliest first.
    appearances: list[tuple[str, datetime | None, str]] = field(default_factory=list)
    member_offset: int = 0
    # Shown member id -> how it relates to the representative (engine.duplicates.relation).
    relations: dict[int, str] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return self.member_count > len(self.members)

    @property
    def distances_truncated(self) -> bool:
        return self.member_count > len(self.distance_members)


def _appearance(media: Media) -> Appearance:
    page = media.expression
    if page.published_at is not None:
        date, source = page.published_at, "published"
    elif page.fetched_at is not None:
        date, source = page.fetched_at, "fetched"
    else:
        date, source = page.created_at, "crawled"
    return Appearance(
        media.pk, media.url, page.pk, page.url, page.title, page.domain_id, page.domain.name, date, source
    )


def pairwise_distances(items: Sequence[HashedImage]) -> list[list[Distance | None]]:
    """Distances between every two items, as the clustering measures them."""
    table: list[list[Distance | None]] = []
    for a in items:
        line: list[Distance | None] = []
        for b in items:
            if a is b:
                line.append(None)
                continue
            identical = bool(a.sha256 and a.sha256 == b.sha256)
            phash = dhash = None
            mirrored = False
            if a.phash is not None and b.phash is not None:
                direct, flipped = hamming(a.phash, b.phash), hamming(mirror_phash(a.phash), b.phash)
                mirrored = flipped < direct
                phash = min(direct, flipped)
            if a.dhash is not None and b.dhash is not None:
                dhash = hamming(mirror_dhash(a.dhash), b.dhash) if mirrored else hamming(a.dhash, b.dhash)
            line.append(Distance(phash, dhash, mirrored, identical))
        table.append(line)
    return table


def _dated(published: datetime | None, fetched: datetime | None, crawled: datetime | None) -> tuple:
    if published is not None:
        return published, "published"
    if fetched is not None:
        return fetched, "fetched"
    return crawled, "crawled"


def cluster_details(
    cluster_id: int, member_limit: int = 200, distance_limit: int = 12, member_offset: int = 0
) -> ClusterDetails:
    """Everything the cluster page shows, in three queries whatever the cluster's size.

    Members are shown ``member_limit`` at a time from ``member_offset``; the domains and
    the appearances cover every member, the distances the first ``distance_limit`` shown.
    """
    cluster = (
        ImageCluster.objects.select_related("land", "representative", "first_expression", "first_domain")
        .defer("first_expression__readable", "representative__exif_data")
        .get(pk=cluster_id)
    )
    representative_first = Case(
        When(pk=cluster.representative_id, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    start = max(0, member_offset)
    members: list[Media] = list(
        Media.objects.filter(cluster_id=cluster.pk)
        .select_related("expression__domain")
        .annotate(appeared_at=APPEARED_AT, representative_rank=representative_first)
        .only(
            "id",
            "url",
            "type",
            "width",
            "height",
            "file_size",
            "format",
            "thumbnail_key",
            "analysis_status",
            "error_class",
            "image_hash",
            "phash",
            "dhash",
            "colorhash",
            "region_hashes",
            "color_mode",
            "cluster_id",
            "expression__id",
            "expression__url",
            "expression__title",
            "expression__published_at",
            "expression__fetched_at",
            "expression__created_at",
            "expression__domain__id",
            "expression__domain__name",
        )
        .order_by("representative_rank", F("appeared_at").asc(nulls_last=True), "id")[start : start + member_limit]
    )
    # One light row per member gives both the domain table and the drawn timeline.
    per_domain: dict[str, tuple[set[int], int]] = {}
    appearances: list[tuple[str, datetime | None, str]] = []
    for name, page_id, published, fetched, crawled in Media.objects.filter(cluster_id=cluster.pk).values_list(
        "expression__domain__name",
        "expression_id",
        "expression__published_at",
        "expression__fetched_at",
        "expression__created_at",
    ):
        pages, count = per_domain.get(name, (set(), 0))
        pages.add(page_id)
        per_domain[name] = (pages, count + 1)
        appearances.append((name, *_dated(published, fetched, crawled)))
    domains = sorted(
        ((name, len(pages), count) for name, (pages, count) in per_domain.items()), key=lambda row: (-row[2], row[0])
    )
    appearances.sort(key=lambda entry: (entry[1] is None, entry[1] or EARLIEST, entry[0]))
    timeline = sorted(
        (_appearance(media) for media in members),
        key=lambda entry: (entry.date is None, entry.date or EARLIEST, entry.media_id),
    )
    first = next((entry for entry in timeline if entry.page_id == cluster.first_expression_id), None)
    shown = members[:distance_limit]
    items = [hashed_item(m.pk, m.image_hash, m.phash, m.dhash, m.colorhash) or HashedImage(key=m.pk) for m in shown]
    return ClusterDetails(
        cluster=cluster,
        members=members,
        member_count=cluster.size,
        timeline=timeline,
        domains=domains,
        first=first or (timeline[0] if timeline else None),
        distance_members=shown,
        distances=pairwise_distances(items),
        appearances=appearances,
        member_offset=start,
        relations=relations_to(cluster.representative, members),
    )


def relations_to(representative: Media | None, members: Sequence[Media]) -> dict[int, str]:
    """Member id -> its relation to the representative (empty without a representative)."""
    if representative is None:
        return {}
    rep = _relation_member(representative)
    return {media.pk: relation(rep, _relation_member(media)) for media in members}


def _relation_member(media: Media) -> Member:
    return relation_member(
        media.pk,
        media.image_hash,
        media.phash,
        media.dhash,
        media.colorhash,
        media.region_hashes,
        media.width,
        media.height,
        media.color_mode,
    )


@dataclass
class CorrectionPreview:
    """A correction as the pages list it: what undid it, if anything, and a few of its images."""

    correction: ClusterCorrection
    undone_by: ClusterCorrection | None
    thumbnails: list[Media]


def recent_corrections(
    land_id: int, cluster_id: int | None = None, *, limit: int = 10, scan: int = 200, thumbnails: int = 6
) -> list[CorrectionPreview]:
    """A land's latest corrections, or those among the last ``scan`` that changed ``cluster_id``.

    One query, one more for the thumbnails, and one more when a merge is shown: a split
    shows what it detached, a merge the two images its must-link joined (read from its
    triples, which are left behind otherwise since a split's can be many).
    """
    queryset = (
        ClusterCorrection.objects.filter(land_id=land_id)
        .select_related("created_by", "undone_by")
        .defer("members", "added", "removed")
        .order_by("-pk")
    )
    if cluster_id is None:
        found = list(queryset[:limit])
    else:
        found = [
            correction
            for correction in queryset[:scan]
            if cluster_id in correction.source_clusters or cluster_id in correction.result_clusters
        ][:limit]
    merges = [c.pk for c in found if not c.detached]
    triples = (
        {
            pk: [*added, *removed]
            for pk, added, removed in ClusterCorrection.objects.filter(pk__in=merges).values_list(
                "pk", "added", "removed"
            )
        }
        if merges
        else {}
    )
    wanted: dict[int, list[int]] = {}
    for correction in found:
        if correction.detached:
            wanted[correction.pk] = [int(mid) for mid in correction.detached[:thumbnails]]
        else:
            must = [row for row in triples.get(correction.pk, []) if row[2] == ClusterLinkKind.MUST]
            wanted[correction.pk] = [int(mid) for mid in must[0][:2]] if must else []
    ids = {mid for chosen in wanted.values() for mid in chosen}
    by_id = (
        {
            media.pk: media
            for media in Media.objects.filter(pk__in=ids).only(
                "id", "url", "type", "width", "height", "thumbnail_key", "analysis_status", "error_class"
            )
        }
        if ids
        else {}
    )
    return [
        CorrectionPreview(
            correction=correction,
            undone_by=getattr(correction, "undone_by", None),
            thumbnails=[by_id[mid] for mid in wanted[correction.pk] if mid in by_id],
        )
        for correction in found
    ]


def land_clustering(land_id: int) -> LandClustering | None:
    return LandClustering.objects.filter(land_id=land_id).first()
