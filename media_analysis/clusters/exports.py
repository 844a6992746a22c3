"""Clusters as the exports read them: the cluster of a media, the GEXF grouping key, the clustercsv rows.

Kept apart from :mod:`~media_analysis.clusters.queries` (which serves the admin pages and
the API): these functions are the contract with the exports app, and its only users.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db.models import Case, F, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Cast, Concat

from lands.models import Expression, Media
from media_analysis.clusters.params import APPEARED_AT, chunks, relation_member
from media_analysis.engine.duplicates.relation import Member, relation


def cluster_ids_for(media_ids: Iterable[int]) -> dict[int, int]:
    """media id -> cluster id, for the given media that are in a cluster (one query per 900 ids)."""
    found: dict[int, int] = {}
    for chunk in chunks(set(media_ids)):
        found.update(Media.objects.filter(pk__in=chunk, cluster__isnull=False).values_list("id", "cluster_id"))
    return found


def with_cluster_key(queryset: QuerySet[Media], fallback: Any, name: str = "node_key") -> QuerySet[Media]:
    """Annotate ``name``: ``"cluster:<id>"`` for a clustered media, else the ``fallback`` expression.

    Lets the media GEXF merge a cluster's images into one node: its grouping key
    becomes the cluster, and lone images keep their own key.
    """
    key = Case(
        When(cluster_id__isnull=False, then=Concat(Value("cluster:"), Cast("cluster_id", TextField()))),
        default=fallback,
        output_field=TextField(),
    )
    return queryset.annotate(**{name: key})


# Columns of the clustercsv export, in order. With page filters (minrel, depth) the
# figures cover the members on the selected pages only; land_size is the whole cluster.
CLUSTER_CSV_COLUMNS: tuple[str, ...] = (
    "cluster_id",  # ImageCluster id, stable across recomputations
    "size",  # member media rows on the selected pages
    "land_size",  # member media rows in the whole land
    "distinct_domains",
    "distinct_pages",
    "first_seen_at",  # earliest appearance (page published_at, else fetched_at, else created_at)
    "first_page_id",
    "first_page_url",
    "first_domain",
    "representative_id",  # the cluster's representative (whole land)
    "representative_url",
    "media_ids",  # selected members, earliest appearance first (a JSON list in CSV)
    "relation",  # each selected member's relation to the representative, as media_ids (a JSON list in CSV)
    "domains",  # distinct domains of the selected members, by first appearance (a JSON list in CSV)
)


def iter_cluster_rows(land_id: int, minrel: int | None = None, depth: int | None = None) -> Iterator[dict[str, Any]]:
    """One dict per cluster (keys: :data:`CLUSTER_CSV_COLUMNS`), most spread first.

    ``minrel`` and ``depth`` select the members' pages by the rule of
    ``Expression.selection``. Clusters without a selected member
    are left out. One streamed query; memory holds one cluster's members at a time.
    """
    selection = Q(cluster__land_id=land_id) & Expression.selection(depth, minrel, prefix="expression__")
    rows = (
        Media.objects.filter(selection)
        .annotate(appeared_at=APPEARED_AT)
        .order_by(
            "-cluster__distinct_domains",
            "-cluster__size",
            "cluster_id",
            F("appeared_at").asc(nulls_last=True),
            "expression_id",
            "id",
        )
        .values_list(
            "cluster_id",
            "cluster__size",
            "cluster__representative_id",
            "cluster__representative__url",
            "id",
            "expression_id",
            "expression__url",
            "expression__domain__name",
            "appeared_at",
            *_RELATION_FIELDS,
            *(f"cluster__representative__{name}" for name in _RELATION_FIELDS),
        )
        .iterator(chunk_size=2000)
    )
    current: dict[str, Any] | None = None
    pages: set[int] = set()
    domains: dict[str, None] = {}
    width = len(_RELATION_FIELDS)
    representative = None
    for cid, land_size, rep_id, rep_url, mid, page_id, page_url, domain, appeared, *hashes in rows:
        if current is None or current["cluster_id"] != cid:
            if current is not None:
                yield _close_row(current, pages, domains)
            current = {
                "cluster_id": cid,
                "land_size": land_size,
                "first_seen_at": appeared,
                "first_page_id": page_id,
                "first_page_url": page_url,
                "first_domain": domain,
                "representative_id": rep_id,
                "representative_url": rep_url,
                "media_ids": [],
                "relation": [],
            }
            pages, domains = set(), {}
            representative = _member(rep_id, hashes[width:]) if rep_id is not None else None
        current["media_ids"].append(mid)
        current["relation"].append(relation(representative, _member(mid, hashes[:width])) if representative else "")
        pages.add(page_id)
        domains.setdefault(domain, None)
    if current is not None:
        yield _close_row(current, pages, domains)


# What a member's relation to the representative is told from (engine.duplicates.relation).
_RELATION_FIELDS = ("image_hash", "phash", "dhash", "colorhash", "region_hashes", "width", "height", "color_mode")


def _member(media_id: int, values: Sequence[Any]) -> Member:
    return relation_member(media_id, *values)


def _close_row(current: dict[str, Any], pages: set[int], domains: dict[str, None]) -> dict[str, Any]:
    current["size"] = len(current["media_ids"])
    current["distinct_pages"] = len(pages)
    current["distinct_domains"] = len(domains)
    current["domains"] = list(domains)
    return {name: current[name] for name in CLUSTER_CSV_COLUMNS}
