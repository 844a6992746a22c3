"""Near-duplicate clusters of a land's images, kept in the database.

The rules are those of :mod:`media_analysis.engine.duplicates` (identical SHA-256 always
together; otherwise pHash within ``MEDIA_ANALYSIS_DUPLICATE_THRESHOLD`` bits confirmed
by the dHash or the colour hash, mirrored copies included); this module feeds it a
land's hashes and manual corrections, and writes the result as rows.

What is clustered: the land's media of type ``img`` whose analysis is ``done`` and
that have a SHA-256 or a pHash. A cluster has two members or more; an image without
a near-duplicate has no :class:`~media_analysis.models.ImageCluster` row and a NULL
``Media.cluster``.

Figures of a cluster (denormalised on its row, recomputed with its membership):

* ``size``: member media rows; ``distinct_pages`` / ``distinct_domains``: the pages
  showing a member and their domains.
* ``first_seen_at``: the earliest appearance. A member appears at its page's
  ``published_at`` when the page has one, else at its ``fetched_at``, else at its
  ``created_at`` (when the crawler recorded the page). ``first_expression`` and
  ``first_domain`` are that page and its domain (ties: the smaller page id).
* ``representative``: the largest member in pixels, then in bytes, then the first
  seen, then the smallest id.

Stable ids: after a recomputation each new cluster takes over the row of the old
cluster it shares most members with (ties: the older row), each old row being
taken once; the rest are created or deleted.

Three ways to compute:

* :func:`recluster_land`: from scratch, every hash of the land and every stored
  correction. The reference; one pass of the engine over the land.
* :func:`update_clusters_for_media`: incremental. The land's pHashes are indexed and
  only the given media are searched against them; the *region* made of these media
  and of every old cluster they may join (pHash, region and overlay candidates,
  identical files, must-links), or that contained them, is clustered again, and only its rows are
  written. The result equals a full recomputation: edges between the region and
  the rest cannot exist (an old edge joins two members of one old cluster, a new
  one involves a given media and its candidates are all in the region). When a
  member of the region carries a manual split (cannot-link), the greedy pass of the
  engine may depend on edges outside the region, so the land is recomputed fully.
* :func:`update_clusters_for_new_media`: incremental over the media analysed since
  the last run started (less :data:`WATERMARK_MARGIN`, which covers writes committed
  late); the first run of a land, or a run after a change of thresholds, is full.

Every run of a land holds a lock on its :class:`~media_analysis.models.LandClustering`
row, so two runs of one land never interleave. Deleting media does not update the
clusters they belonged to; the next full recomputation does.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, Model, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from lands.models import AnalysisStatus, Land, Media, MediaType
from media_analysis.clusters.params import (
    APPEARED_AT,
    EARLIEST,
    IN_CHUNK,
    WRITE_BATCH,
    chunks,
    cluster_params,
)
from media_analysis.engine.duplicates.clusterer import (
    ClusterParams,
    NearDuplicateClusterer,
    fold_identical,
    overlay_candidates,
    phash_candidates,
    region_candidates,
)
from media_analysis.engine.duplicates.hashes import HashArrays
from media_analysis.models import ClusterLink, ClusterLinkKind, ImageCluster, LandClustering

logger = logging.getLogger("medianalyse.clusters")

# Media analysed this long before the last run started count as new again: a chunk
# stamps analyzed_at before its transaction commits, and a run may start in between.
WATERMARK_MARGIN = timedelta(minutes=10)

_CLUSTER_FIGURES = (
    "key",
    "representative_id",
    "size",
    "distinct_domains",
    "distinct_pages",
    "first_seen_at",
    "first_expression_id",
    "first_domain_id",
)


# --- Reports -----------------------------------------------------------------------


@dataclass
class ClusterReport:
    """What a run did. ``region``: images clustered again (all of them in a full run)."""

    land_id: int
    mode: str = "full"
    reason: str = ""
    images: int = 0
    new_media: int = 0
    region: int = 0
    clusters: int = 0
    clustered_images: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    media_changed: int = 0
    ignored_cannot_links: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        head = f"Land {self.land_id}: {self.mode} clustering"
        if self.reason:
            head += f" ({self.reason})"
        lines = [
            f"{head} in {self.seconds:.2f} s",
            f"  images with hashes: {self.images:,}; clustered again: {self.region:,}"
            + (f"; new or re-analysed: {self.new_media:,}" if self.mode != "full" else ""),
            f"  clusters: {self.clusters:,} holding {self.clustered_images:,} images",
            f"  rows: {self.created:,} created, {self.updated:,} updated, {self.deleted:,} deleted; "
            f"{self.media_changed:,} media changed cluster",
        ]
        if self.ignored_cannot_links:
            lines.append(f"  {self.ignored_cannot_links:,} split link(s) ignored: the two images are the same file")
        return lines


# --- Loading a land ----------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    id: int
    cluster_id: int | None
    expression_id: int
    domain_id: int
    area: int
    file_size: int
    appeared_at: datetime | None


# What every image of the land needs: its hashes, whether it is an analysed image, its
# cluster. What a written member needs besides (page, domain, size, appearance) is read
# for the members only (``_load_rows``).
_LAND_COLUMNS = (
    "id",
    "analysed",
    "image_hash",
    "phash",
    "dhash",
    "colorhash",
    "region_hashes",
    "cluster_id",
)
# Rows converted per fetch: the land's text columns are parsed a batch at a time, so that
# the Python strings of a large land are never all in memory at once.
_LOAD_BATCH = 20_000


class _Land:
    """Every image of a land that is clusterable or sits in a cluster, as columns.

    ``items`` holds the hashes of the clusterable ones (analysed images with a SHA-256 or
    a pHash), in the order of the query, parsed a column at a time: no Python object
    per image.
    """

    def __init__(self, ids: Sequence[int], cluster_ids: Sequence[int | None], items: HashArrays) -> None:
        self.ids: list[int] = list(ids)
        self.cluster_ids: list[int | None] = list(cluster_ids)
        self.items = items
        self._position: dict[int, int] | None = None

    @classmethod
    def from_records(cls, batches: Iterable[Sequence[tuple]]) -> _Land:
        """From batches of rows of :data:`_LAND_COLUMNS`, each parsed on its own."""
        ids: list[int] = []
        cluster_ids: list[int | None] = []
        parts: list[HashArrays] = []
        for records in batches:
            if not records:
                continue
            keys, analysed, shas, phashes, dhashes, colorhashes, regions, clusters = zip(*records, strict=True)
            hashes = HashArrays.from_stored(keys, shas, phashes, dhashes, colorhashes, regions)
            has_sha = np.fromiter((sha is not None for sha in hashes.sha256.tolist()), dtype=bool, count=len(keys))
            clusterable = np.fromiter(analysed, dtype=bool, count=len(keys)) & (has_sha | hashes.has_phash)
            parts.append(hashes.take(np.flatnonzero(clusterable)))
            ids.extend(keys)
            cluster_ids.extend(clusters)
        return cls(ids, cluster_ids, HashArrays.concatenate(parts))

    def __contains__(self, media_id: object) -> bool:
        return media_id in self.positions

    @property
    def positions(self) -> dict[int, int]:
        if self._position is None:
            self._position = dict(zip(self.ids, range(len(self.ids)), strict=True))
        return self._position

    def cluster_of(self, media_id: int) -> int | None:
        return self.cluster_ids[self.positions[media_id]]


def _load_land(land_id: int) -> _Land:
    """Every image of the land that is clusterable or sits in a cluster, in one query.

    Plain rows of the columns the search needs, parsed a batch at a time. Appearance
    dates, pages and sizes are left out: converting them for 100,000 rows costs more
    than the clustering's search, and only clustered images need them (``_load_rows``).
    """
    analysed = Q(type=MediaType.IMAGE, analysis_status=AnalysisStatus.DONE)
    clusterable = analysed & (Q(image_hash__gt="") | Q(phash__gt=""))
    queryset = (
        Media.objects.filter(expression__land_id=land_id)
        .filter(clusterable | Q(cluster__isnull=False))
        .annotate(analysed=ExpressionWrapper(analysed, output_field=BooleanField()))
        .order_by()
        .values_list(*_LAND_COLUMNS)
    )
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor, _collector_paused():
        cursor.execute(sql, params)
        return _Land.from_records(iter(lambda: cursor.fetchmany(_LOAD_BATCH), []))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a land's rows are read.

    Hundreds of thousands of tuples and strings are made in a row: the collector would
    walk them again and again, and none of them can be part of a cycle.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_rows(land: _Land, ids: Iterable[int]) -> dict[int, _Row]:
    """What the figures of a cluster need of each given media (one query, or one per 900 ids on SQLite)."""
    rows: dict[int, _Row] = {}
    for batch in _id_batches(ids):
        values = (
            Media.objects.filter(pk__in=batch)
            .annotate(appeared_at=APPEARED_AT)
            .order_by()
            .values_list("id", "expression_id", "expression__domain_id", "width", "height", "file_size", "appeared_at")
        )
        for mid, expression_id, domain_id, width, height, file_size, appeared in values:
            rows[mid] = _Row(
                id=mid,
                cluster_id=land.cluster_of(mid),
                expression_id=expression_id,
                domain_id=domain_id,
                area=(width or 0) * (height or 0),
                file_size=file_size or 0,
                appeared_at=appeared,
            )
    return rows


def _id_batches(ids: Iterable[int]) -> Iterable[list[int]]:
    """Ids for ``IN (...)`` lists: all at once on PostgreSQL, which has no limit on them, else :func:`chunks`."""
    if connection.vendor == "postgresql":
        every = sorted(ids)
        return [every] if every else []
    return chunks(ids)


def _load_links(land_id: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    must: list[tuple[int, int]] = []
    cannot: list[tuple[int, int]] = []
    for a, b, kind in ClusterLink.objects.filter(land_id=land_id).values_list("media_a_id", "media_b_id", "kind"):
        (must if kind == ClusterLinkKind.MUST else cannot).append((a, b))
    return must, cannot


# --- Matching and figures (pure) ----------------------------------------------------


def match_clusters(groups: Sequence[Sequence[int]], previous: Mapping[int, int | None]) -> list[int | None]:
    """For each new group, the old cluster id whose row it takes over, or None for a new row.

    Largest overlap first (ties: smaller old id, then earlier group); each old id is
    given to one group at most.
    """
    overlaps: Counter[tuple[int, int]] = Counter()
    for index, members in enumerate(groups):
        for member in members:
            old = previous.get(member)
            if old is not None:
                overlaps[(index, old)] += 1
    chosen: list[int | None] = [None] * len(groups)
    taken: set[int] = set()
    for (index, old), _count in sorted(overlaps.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0])):
        if chosen[index] is None and old not in taken:
            chosen[index] = old
            taken.add(old)
    return chosen


def _figures(members: Sequence[_Row]) -> dict[str, Any]:
    def appearance(row: _Row) -> tuple:
        return (row.appeared_at is None, row.appeared_at or EARLIEST, row.expression_id, row.id)

    first = min(members, key=appearance)
    first_rank = {row.id: rank for rank, row in enumerate(sorted(members, key=appearance))}
    representative = min(members, key=lambda row: (-row.area, -row.file_size, first_rank[row.id], row.id))
    return {
        "key": min(row.id for row in members),
        "representative_id": representative.id,
        "size": len(members),
        "distinct_domains": len({row.domain_id for row in members}),
        "distinct_pages": len({row.expression_id for row in members}),
        "first_seen_at": first.appeared_at,
        "first_expression_id": first.expression_id,
        "first_domain_id": first.domain_id,
    }


# --- Writing --------------------------------------------------------------------------


@dataclass
class _Written:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    media_changed: int = 0


def _write(
    land_id: int,
    land: _Land,
    scope: Iterable[int] | None,
    groups: Sequence[Sequence[int]],
    existing: Mapping[int, ImageCluster],
    now: datetime,
) -> _Written:
    """Make the rows of ``scope`` (media ids; None: the whole land) and of the ``existing`` clusters say ``groups``."""
    if scope is None:
        previous = dict(zip(land.ids, land.cluster_ids, strict=True))
    else:
        previous = {mid: land.cluster_of(mid) for mid in scope}
    chosen = match_clusters(groups, previous)
    rows = _load_rows(land, [mid for members in groups for mid in members])
    written = _Written()
    to_create: list[ImageCluster] = []
    to_update: list[ImageCluster] = []
    cluster_of_group: list[ImageCluster] = []
    for members, old in zip(groups, chosen, strict=True):
        figures = _figures([rows[mid] for mid in members])
        cluster = existing.get(old) if old is not None else None
        if cluster is None:
            cluster = ImageCluster(land_id=land_id, created_at=now, **figures)
            to_create.append(cluster)
        elif any(getattr(cluster, name) != value for name, value in figures.items()):
            for name, value in figures.items():
                setattr(cluster, name, value)
            cluster.updated_at = now
            to_update.append(cluster)
        cluster_of_group.append(cluster)
    # PostgreSQL takes any number of rows in one statement; SQLite a limited number of parameters.
    ImageCluster.objects.bulk_create(to_create, batch_size=None if connection.vendor == "postgresql" else WRITE_BATCH)
    _update_clusters(to_update)
    written.created, written.updated = len(to_create), len(to_update)

    target: dict[int, int | None] = dict.fromkeys(previous)
    for members, cluster in zip(groups, cluster_of_group, strict=True):
        for mid in members:
            target[mid] = cluster.pk
    changed = [(mid, cid) for mid, cid in target.items() if cid != previous.get(mid)]
    _assign_clusters(changed)
    written.media_changed = len(changed)

    kept = {cluster.pk for cluster in cluster_of_group}
    obsolete = set(existing) - kept
    for chunk in _id_batches(obsolete):
        # Members were moved above, so the SET NULL of the delete has nothing left to do.
        ImageCluster.objects.filter(pk__in=chunk).delete()
    written.deleted = len(obsolete)
    return written


def _quoted(model: type[Model], field: str | None = None) -> str:
    """The quoted table of a model, or of one of its fields' column."""
    if field is None:
        return connection.ops.quote_name(model._meta.db_table)
    column = model._meta.get_field(field).column  # type: ignore[union-attr]
    assert column is not None  # concrete fields only
    return connection.ops.quote_name(column)


def _update_clusters(clusters: Sequence[ImageCluster]) -> None:
    """Write the figures and ``updated_at`` of these cluster rows.

    PostgreSQL: one statement whatever the count, each column sent as one array.
    Elsewhere ``bulk_update``.
    """
    names = [*_CLUSTER_FIGURES, "updated_at"]
    if not clusters:
        return
    if connection.vendor != "postgresql":
        ImageCluster.objects.bulk_update(clusters, names, batch_size=WRITE_BATCH)
        return
    fields = [ImageCluster._meta.get_field(name) for name in names]
    columns = [_quoted(ImageCluster, name) for name in names]
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in [ImageCluster._meta.pk, *fields])
    assignments = ", ".join(f"{column} = v.{column}" for column in columns)
    key = _quoted(ImageCluster, "id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_quoted(ImageCluster)} SET {assignments} "
            f"FROM unnest({arrays}) AS v({key}, {', '.join(columns)}) WHERE {_quoted(ImageCluster)}.{key} = v.{key}",
            [[cluster.pk for cluster in clusters]]
            + [[getattr(cluster, name) for cluster in clusters] for name in names],
        )


def _assign_clusters(changes: Sequence[tuple[int, int | None]]) -> None:
    """Set ``Media.cluster`` for each (media id, cluster id or None).

    Plain SQL: ``bulk_update`` builds one expression object per row, many times slower
    (docs/benchmarks/duplicates.md). PostgreSQL: one statement, ids and clusters sent as
    two arrays; elsewhere one ``CASE`` per 300 rows.
    """
    if not changes:
        return
    table = _quoted(Media)
    column = _quoted(Media, "cluster")
    key = _quoted(Media, "id")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET {column} = v.cluster FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, cluster) "
                f"WHERE {table}.{key} = v.id",
                [[mid for mid, _ in changes], [cid for _, cid in changes]],
            )
            return
        for start in range(0, len(changes), IN_CHUNK // 3):
            chunk = changes[start : start + IN_CHUNK // 3]
            cases = " ".join(["WHEN %s THEN %s"] * len(chunk))
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"UPDATE {table} SET {column} = CASE {key} {cases} ELSE {column} END WHERE {key} IN ({marks})",
                [value for pair in chunk for value in pair] + [mid for mid, _ in chunk],
            )


def _existing_clusters(land_id: int, ids: Iterable[int] | None = None) -> dict[int, ImageCluster]:
    queryset = ImageCluster.objects.filter(land_id=land_id).only("id", "land_id", *_CLUSTER_FIGURES)
    if ids is None:
        return {cluster.pk: cluster for cluster in queryset}
    return {cluster.pk: cluster for batch in _id_batches(ids) for cluster in queryset.filter(pk__in=batch)}


# --- Runs ----------------------------------------------------------------------------------


def _state_for_update(land_id: int) -> LandClustering:
    """The land's clustering state, locked until the end of the transaction (creates it once)."""
    if not Land.objects.filter(pk=land_id).exists():
        raise Land.DoesNotExist(f"Land {land_id} does not exist")
    LandClustering.objects.get_or_create(land_id=land_id)
    return LandClustering.objects.select_for_update().get(land_id=land_id)


def _finish(state: LandClustering, report: ClusterReport, started_at: datetime | None, elapsed: float) -> None:
    report.seconds = round(elapsed, 3)
    report.clusters, report.clustered_images = _land_totals(report.land_id)
    state.finished_at = timezone.now()
    state.mode = report.mode
    state.seconds = report.seconds
    state.images = report.images
    state.clusters = report.clusters
    update = ["finished_at", "mode", "seconds", "images", "clusters"]
    if started_at is not None:
        # Only runs that saw every media analysed until then move the watermark.
        state.started_at = started_at
        state.params = asdict(cluster_params())
        update += ["started_at", "params"]
    state.save(update_fields=update)


def _land_totals(land_id: int) -> tuple[int, int]:
    row = ImageCluster.objects.filter(land_id=land_id).aggregate(n=Count("id"), members=Coalesce(Sum("size"), 0))
    return row["n"], row["members"]


def _full(land_id: int, land: _Land, report: ClusterReport, now: datetime) -> ClusterReport:
    must, cannot = _load_links(land_id)
    items = land.items
    clusterer = NearDuplicateClusterer(cluster_params())
    clusterer.apply_constraints(must_link=must, cannot_link=cannot)
    copies = fold_identical(items, keep_apart=_linked_keys(must, cannot))
    clusterer.add(copies.distinct)
    groups = copies.expand(clusterer.clusters())
    written = _write(land_id, land, None, groups, _existing_clusters(land_id), now)
    report.images = len(items)
    report.region = len(items)
    report.ignored_cannot_links = len(clusterer.ignored_cannot_links())
    report.created, report.updated, report.deleted = written.created, written.updated, written.deleted
    report.media_changed = written.media_changed
    return report


def _linked_keys(must: Iterable[tuple[int, int]], cannot: Iterable[tuple[int, int]]) -> set[int]:
    """Media named by a manual link: never folded with their identical copies (see fold_identical)."""
    return {key for pair in (*must, *cannot) for key in pair}


def recluster_land(land_id: int) -> ClusterReport:
    """Cluster the land from scratch with its stored corrections; returns what changed."""
    clock = time.perf_counter()
    with transaction.atomic():
        state = _state_for_update(land_id)
        started_at = timezone.now()
        report = _full(land_id, _load_land(land_id), ClusterReport(land_id, mode="full"), started_at)
        _finish(state, report, started_at, time.perf_counter() - clock)
    logger.info("%s", "; ".join(line.strip() for line in report.lines()))
    return report


def _region(land: _Land, new_ids: set[int], must: Iterable[tuple[int, int]], params: ClusterParams) -> set[int]:
    items = land.items
    is_new = np.isin(items.keys, np.fromiter(new_ids, dtype=np.int64, count=len(new_ids)))
    old, new = items.take(~is_new), items.take(is_new)
    touched = phash_candidates(old, new, params.phash_threshold, params.mirrors)
    if params.region_phash_threshold is not None:
        touched |= region_candidates(old, new, params.region_phash_threshold)
        touched |= overlay_candidates(old, new, params)
    shas = {sha for sha in new.sha256.tolist() if sha}
    if shas:
        old_shas = zip(old.keys.tolist(), old.sha256.tolist(), strict=True)
        touched.update(key for key, sha in old_shas if sha is not None and sha in shas)
    for a, b in must:
        if a in new_ids and b in land:
            touched.add(b)
        elif b in new_ids and a in land:
            touched.add(a)
    clusters = {land.cluster_of(mid) for mid in touched | new_ids} - {None}
    region = set(new_ids) | touched
    if clusters:
        region.update(mid for mid, cid in zip(land.ids, land.cluster_ids, strict=True) if cid in clusters)
    return region


def _incremental(
    land_id: int,
    state: LandClustering,
    media_ids: Iterable[int],
    started_at: datetime,
    moves_watermark: bool,
    clock: float,
) -> ClusterReport:
    params = cluster_params()
    watermark = started_at if moves_watermark else None
    report = ClusterReport(land_id, mode="incremental")
    if state.started_at is None or state.params != asdict(params):
        report.mode = "full"
        report.reason = "first run" if state.started_at is None else "thresholds changed"
        _full(land_id, _load_land(land_id), report, started_at)
        _finish(state, report, started_at, time.perf_counter() - clock)
        return report

    land = _load_land(land_id)
    new_ids = {mid for mid in media_ids if mid in land}
    report.images = len(land.items)
    report.new_media = len(new_ids)
    if not new_ids:
        _finish(state, report, watermark, time.perf_counter() - clock)
        return report
    must, cannot = _load_links(land_id)
    region = _region(land, new_ids, must, params)
    if any(a in region or b in region for a, b in cannot):
        report.mode = "full"
        report.reason = "a manual split involves these images"
        _full(land_id, land, report, started_at)
        _finish(state, report, started_at, time.perf_counter() - clock)
        return report

    keys = land.items.keys
    chosen = np.flatnonzero(np.isin(keys, np.fromiter(region, dtype=np.int64, count=len(region))))
    items = land.items.take(chosen[np.argsort(keys[chosen], kind="stable")])
    clusterer = NearDuplicateClusterer(params)
    must = [(a, b) for a, b in must if a in region and b in region]
    clusterer.apply_constraints(must_link=must)
    copies = fold_identical(items, keep_apart=_linked_keys(must, ()))
    clusterer.add(copies.distinct)
    old_ids = {cid for cid in (land.cluster_of(mid) for mid in region) if cid is not None}
    groups = copies.expand(clusterer.clusters())
    written = _write(land_id, land, region, groups, _existing_clusters(land_id, old_ids), started_at)
    report.region = len(items)
    report.created, report.updated, report.deleted = written.created, written.updated, written.deleted
    report.media_changed = written.media_changed
    _finish(state, report, watermark, time.perf_counter() - clock)
    return report


def update_clusters_for_media(land_id: int, media_ids: Iterable[int]) -> ClusterReport:
    """Bring newly analysed (or re-analysed) media of the land into its clusters.

    Gives the clusters a full recomputation would give (see the module doc); ids of
    other lands, and of media that are not hashed images, are ignored.
    """
    clock = time.perf_counter()
    media_ids = list(media_ids)
    with transaction.atomic():
        state = _state_for_update(land_id)
        report = _incremental(land_id, state, media_ids, timezone.now(), moves_watermark=False, clock=clock)
    logger.info("%s", "; ".join(line.strip() for line in report.lines()))
    return report


def update_clusters_for_new_media(land_id: int) -> ClusterReport:
    """Incremental run over the media analysed since the land's last run (full on the first)."""
    clock = time.perf_counter()
    with transaction.atomic():
        state = _state_for_update(land_id)
        started_at = timezone.now()
        ids: list[int] = []
        if state.started_at is not None:
            ids = list(
                Media.objects.filter(
                    expression__land_id=land_id,
                    type=MediaType.IMAGE,
                    analyzed_at__gte=state.started_at - WATERMARK_MARGIN,
                ).values_list("id", flat=True)
            )
        report = _incremental(land_id, state, ids, started_at, moves_watermark=True, clock=clock)
    logger.info("%s", "; ".join(line.strip() for line in report.lines()))
    return report


def cluster_land(land_id: int, media_ids: Iterable[int] | None = None, *, full: bool = False) -> ClusterReport:
    """The entry point of the task and the command: full, given media, or media new since the last run."""
    if full:
        return recluster_land(land_id)
    if media_ids is not None:
        return update_clusters_for_media(land_id, media_ids)
    return update_clusters_for_new_media(land_id)
