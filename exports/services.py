"""Land exports: the queries behind each export type, and the single entry point.

``prepare_export(land, type, **params)`` (or ``export_request(land, query)`` for a
query string or form) validates the parameters with ``ExportRequestSerializer``
(raising ``InvalidParameters``) and returns a ``LandExport`` whose ``chunks()``
streams the file. The command, the API view and the admin action all go through it.

Every query is iterated with ``.iterator(chunk_size=...)`` over ``values_list``
rows, so an export costs a fixed number of queries whatever the land's size,
and memory stays flat: rows go from the cursor straight to the writer.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, TypedDict, cast

from django.db import connections
from django.db.models import Avg, Count, DateTimeField, F, Min, Q, QuerySet, TextField, Value
from django.db.models.functions import Coalesce, Concat, NullIf
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from exports.columnlines import ColumnLines
from exports.columns import (
    FULLPAGE_CSV_COLUMNS,
    MEDIA_COLUMNS,
    NODE_CSV_COLUMNS,
    NODE_GEXF_ATTRIBUTES,
    PAGE_CSV_COLUMNS,
    PAGE_DATE_COLUMNS,
    PAGE_GEXF_ATTRIBUTES,
    MediaCsvSources,
    primary_color,
)
from exports.rows import ColumnReader, json_rendered
from exports.sqlcsv import DatabaseLines
from exports.writers import GexfAttribute, GexfEdge, GexfNode, csv_cells, iter_csv, iter_csv_columns, iter_gexf
from exports.zipstream import ZipStream, read_chunks
from lands.models import (
    PAGE_NUMBER_MAX,
    AnalysisStatus,
    Domain,
    Expression,
    ExpressionLink,
    Land,
    Media,
    MediaType,
    TaggedContent,
)
from media_analysis import clusters, stored
from media_analysis.errors import InvalidParameters
from media_analysis.texts import exports as texts

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

# Rows fetched per round trip; module-level so tests can shrink it and prove
# that the query count does not depend on it.
CHUNK_SIZE = 2000

GEXF_CREATOR = "medianalyse"
DEFAULT_MINREL = 1  # as in the crawler
MINREL_ALL = "all"  # the minrel that selects every page, scored or not
# The page exports that append the page's dates on request.
DATED_TYPES = ("pagecsv", "fullpagecsv", "pagegexf")
# The exports that write the media CSV (the archive holds one).
MEDIA_CSV_TYPES = ("mediacsv", "archive")
NODE_MODES = ("page", "domain")
# The graphs that may merge a near-duplicate cluster's images into one node.
MERGING_TYPES = ("mediagexf", "textgexf")


# --- Options -------------------------------------------------------------------


@dataclass(frozen=True)
class ExportOptions:
    minrel: int | None = DEFAULT_MINREL  # None: every page, scored or not (what a job takes without minrel)
    depth: int | None = None
    media_types: tuple[str, ...] = tuple(MediaType.values)
    nodes: str = "page"
    merge_clusters: bool = False  # mediagexf, textgexf: one node per near-duplicate cluster
    # mediacsv: also write the values kept from an earlier attempt of media whose
    # latest attempt failed or is still to come (their status column says so).
    stale_values: bool = False
    raw: bool = False  # CSV: text written as stored, even when a spreadsheet would run it as a formula
    dates: bool = False  # page exports: the page's published_at and fetched_at after the crawler's columns
    include_failed: bool = False  # mediagexf: keep media whose latest attempt failed (error pages are no images)
    dynamic: bool = False  # mediagexf: a dynamic graph, each node and edge starting at its first appearance

    def describe(self) -> str:
        parts = ["every page" if self.minrel is None else f"relevance >= {self.minrel}"]
        if self.depth is not None:
            parts.append(f"depth <= {self.depth}")
        return ", ".join(parts)


@dataclass(frozen=True)
class ExportType:
    name: str
    extension: str
    media: bool
    description: str
    produce: Callable[[Land, ExportOptions, ExportCounts], Iterator[bytes]]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.extension]


CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "gexf": "application/gexf+xml", "zip": "application/zip"}


@dataclass
class ExportCounts:
    records: int = 0  # rows of a CSV, nodes of a GEXF
    edges: int = 0
    files: int = 0  # stored files written into an archive
    missing: int = 0  # stored files an archive's CSV names but the storage no longer holds


# --- Shared filters ------------------------------------------------------------


def _page_q(land_id: int, options: ExportOptions, prefix: str = "") -> Q:
    """The land's pages the options select, seen from a model that ``prefix`` joins to them.

    One ``Q``, so that a filter through a multi-valued relation tests every
    condition on the same page.
    """
    return Q(**{f"{prefix}land_id": land_id}) & Expression.selection(options.depth, options.minrel, prefix)


def pages_of(land: Land, options: ExportOptions) -> QuerySet[Expression]:
    return Expression.objects.filter(land_id=land.pk).selected(options.depth, options.minrel)


def media_of(land: Land, options: ExportOptions) -> QuerySet[Media]:
    return (
        Media.objects.of_land(land.pk)
        .on_selected_pages(options.depth, options.minrel)
        .filter(type__in=options.media_types)
    )


def _stream(queryset: QuerySet) -> Iterator:
    return queryset.iterator(chunk_size=CHUNK_SIZE)


def _counted(rows: Iterable, counts: ExportCounts, attribute: str = "records") -> Iterator:
    for row in rows:
        setattr(counts, attribute, getattr(counts, attribute) + 1)
        yield row


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _average(value: Any) -> float | None:
    # Rounded here rather than in SQL: ROUND differs between SQLite and PostgreSQL types.
    return None if value is None else round(float(value), 2)


# --- CSV exports ---------------------------------------------------------------


def _with_tags(land: Land, options: ExportOptions, rows: Iterator[tuple]) -> Iterator[tuple]:
    """Append each page's distinct tag names, comma-joined as the crawler's GROUP_CONCAT did.

    A merge of two id-ordered streams, because a portable string aggregate does
    not exist before Django 6; memory holds one page's tags at a time.
    """
    tag_rows = _stream(
        TaggedContent.objects.filter(_page_q(land.pk, options, "expression__"))
        .values_list("expression_id", "tag__name")
        .order_by("expression_id", "tag__name")
        .distinct()
    )
    pending = next(tag_rows, None)
    for row in rows:
        page_id = row[0]
        names: list[str] = []
        while pending is not None and pending[0] <= page_id:
            if pending[0] == page_id:
                names.append(pending[1])
            pending = next(tag_rows, None)
        yield (*row, ",".join(names) if names else None)


def _page_rows(land: Land, options: ExportOptions, *, readable: bool) -> Iterator[tuple]:
    fields = ["id", "url", "title", "description", "keywords"]
    if readable:
        fields.append("readable")
    fields += ["relevance", "depth", "domain_id", "domain__name", "domain__description", "domain__keywords"]
    if not options.dates:
        rows = _stream(pages_of(land, options).order_by("id").values_list(*fields))
        return _with_tags(land, options, rows)
    rows = _stream(pages_of(land, options).order_by("id").values_list(*fields, *PAGE_DATE_COLUMNS))
    dated = len(PAGE_DATE_COLUMNS)
    # The tags close the crawler's columns; the dates come after them.
    return ((*row[: -dated - 1], row[-1], *row[-dated - 1 : -1]) for row in _with_tags(land, options, rows))


def _page_header(columns: tuple[str, ...], options: ExportOptions) -> tuple[str, ...]:
    return (*columns, *PAGE_DATE_COLUMNS) if options.dates else columns


def produce_pagecsv(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    header = _page_header(PAGE_CSV_COLUMNS, options)
    return iter_csv(header, _counted(_page_rows(land, options, readable=False), counts), raw=options.raw)


def produce_fullpagecsv(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    header = _page_header(FULLPAGE_CSV_COLUMNS, options)
    return iter_csv(header, _counted(_page_rows(land, options, readable=True), counts), raw=options.raw)


def _domain_rows(land: Land, options: ExportOptions) -> Iterator[tuple]:
    # Filtering on the relation before annotating makes the count and the average
    # cover only the selected pages of this land (one join, reused).
    queryset = (
        Domain.objects.filter(_page_q(land.pk, options, "expressions__"))
        .annotate(n_pages=Count("expressions"), mean_relevance=Avg("expressions__relevance"))
        .order_by("id")
        .values_list("id", "name", "title", "description", "keywords", "n_pages", "mean_relevance")
    )
    for *fields, mean in _stream(queryset):
        yield (*fields, _average(mean))


def produce_nodecsv(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    return iter_csv(NODE_CSV_COLUMNS, _counted(_domain_rows(land, options), counts), raw=options.raw)


def media_csv_chunks(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[list[Sequence[Any]]]:
    """``media_csv_rows_of`` the media of the land the options select."""
    return media_csv_rows_of(media_of(land, options), options, counts)


def media_csv_rows_of(
    queryset: QuerySet[Media], options: ExportOptions, counts: ExportCounts
) -> Iterator[list[Sequence[Any]]]:
    """The media CSV's cells, a chunk of rows at a time as a list of columns. The analysis values of a media
    whose latest attempt did not succeed are left empty unless ``options.stale_values``, so a row never shows
    old values as the current result.

    Each column is converted and rendered whole (``exports.rows``): a million rows cost a few calls per
    column and chunk, not several per cell. Columns with a ``render_json`` are made from their source's
    stored JSON text, which is decoded only for the values that path leaves (and for other columns that
    read the same source).
    """
    columns = list(MEDIA_COLUMNS)
    sources_plan = MediaCsvSources.of(columns)
    paths, positions, status_index = sources_plan.paths, sources_plan.positions, sources_plan.status
    as_cells, json_sources, decoded_sources = sources_plan.cells, sources_plan.json, sources_plan.decoded
    reader = ColumnReader(queryset.order_by("id"), paths, chunk_size=CHUNK_SIZE)
    stale_values, is_done, raw = options.stale_values, str(AnalysisStatus.DONE.value).__eq__, options.raw
    for chunk in reader.chunks(csv_columns=sorted(as_cells), text_columns=sorted(json_sources), raw=raw):
        sources = list(chunk)
        for index in decoded_sources:
            sources[index] = reader.decode(index, chunk[index])
        status = chunk[status_index]
        # Rows whose analysis values are left empty.
        stale = () if stale_values else [at for at, done in enumerate(map(is_done, status)) if not done]
        cells: dict[int, Sequence[Any]] = {}
        out: list[Sequence[Any]] = []
        for column, indexes in zip(columns, positions, strict=True):
            values: Sequence[Any]
            if column.render_json is not None and indexes[0] in json_sources:
                values = json_rendered(column, reader, indexes[0], chunk[indexes[0]], raw)
            elif column.render is not None:
                render = column.render
                values = csv_cells(map(render, *(sources[index] for index in indexes)), raw=raw)
            else:
                index = indexes[0]
                if index not in cells:
                    cells[index] = chunk[index] if index in as_cells else csv_cells(sources[index], raw=raw)
                values = cells[index]
            if stale and column.analysis_value:
                values = list(values)
                for at in stale:
                    values[at] = None
            out.append(values)
        counts.records += len(status)
        yield out


def media_csv_header() -> tuple[str, ...]:
    return tuple(column.name for column in MEDIA_COLUMNS)


def produce_mediacsv(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    """The media CSV written by the database (``exports.sqlcsv``, PostgreSQL), joined from columns of cells
    (``exports.columnlines``, SQLite), or row by row (``produce_mediacsv_by_rows``) when some column or setting
    needs it; all give the same bytes."""

    def add(rows: int) -> None:
        counts.records += rows

    queryset = media_of(land, options)
    lines = DatabaseLines(
        queryset,
        MEDIA_COLUMNS,
        raw=options.raw,
        stale_values=options.stale_values,
        chunk_size=CHUNK_SIZE,
        by_rows=lambda rows: media_csv_rows_of(rows, options, ExportCounts()),
    ).stream(add)
    if lines is None and connections[queryset.db].vendor == "sqlite":
        lines = ColumnLines(
            queryset, MEDIA_COLUMNS, raw=options.raw, stale_values=options.stale_values, chunk_size=CHUNK_SIZE
        ).stream(add)
    return produce_mediacsv_by_rows(land, options, counts) if lines is None else lines


def produce_mediacsv_by_rows(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    """The media CSV read into Python values a chunk at a time and written by the csv module."""
    return iter_csv_columns(media_csv_header(), media_csv_chunks(land, options, counts))


# --- GEXF exports --------------------------------------------------------------


def _attributes(declared: Iterable[tuple[str, str]]) -> list[GexfAttribute]:
    return [GexfAttribute(title, gexf_type) for title, gexf_type in declared]


def _description(land: Land, spec_name: str, options: ExportOptions, extra: str = "") -> str:
    text = f"Land {land.name!r} (id {land.pk}), {EXPORT_TYPES[spec_name].description}; {options.describe()}"
    return f"{text}; {extra}" if extra else text


def _cross_domain_links(land: Land, options: ExportOptions, fields: tuple[str, str]) -> Iterator[tuple]:
    """Links whose two ends are selected pages of different domains (the crawler's rule), ordered by ``fields``.

    Only the source is filtered in SQL; the target's filter is checked here. With
    the filter on both ends (as joins or as two ``IN`` lists) SQLite's planner
    pairs every selected source with every selected target: quadratic, minutes
    on a land of 10,000 pages instead of a fraction of a second.
    """
    rows = _stream(
        ExpressionLink.objects.filter(_page_q(land.pk, options, "source__"))
        .exclude(source__domain_id=F("target__domain_id"))
        .order_by(*fields, "id")
        .values_list(*fields, "target__land_id", "target__relevance", "target__depth")
    )
    for first, second, land_id, relevance, depth in rows:
        if land_id == land.pk and Expression.is_selected(depth, relevance, options.depth, options.minrel):
            yield first, second


def _run_lengths(pairs: Iterable[tuple]) -> Iterator[tuple]:
    """(pair, count) for each run of equal consecutive pairs: a GROUP BY over a sorted stream."""
    current, count = None, 0
    for pair in pairs:
        if pair != current:
            if current is not None:
                yield current, count
            current, count = pair, 0
        count += 1
    if current is not None:
        yield current, count


def produce_pagegexf(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    declared = PAGE_GEXF_ATTRIBUTES
    fields = ["id", "url", "title", "description", "keywords", "domain_id", "relevance", "depth"]
    if options.dates:
        # ISO 8601 text, as in the CSV exports; a timeline is the dynamic mediagexf's business.
        declared += tuple((name, "string") for name in PAGE_DATE_COLUMNS)
        fields += PAGE_DATE_COLUMNS
    attributes = _attributes(declared)
    rows = _stream(pages_of(land, options).order_by("id").values_list(*fields))
    nodes = (
        GexfNode(
            page_id,
            url,
            (title, description, keywords, domain_id, relevance, depth, *map(_iso, dates)),
            size=relevance,
        )
        for page_id, url, title, description, keywords, domain_id, relevance, depth, *dates in rows
    )
    links = _cross_domain_links(land, options, ("source_id", "target_id"))
    edges = (GexfEdge(source, target, 1, f"{source}_{target}") for source, target in links)
    return iter_gexf(
        creator=GEXF_CREATOR,
        description=_description(land, "pagegexf", options),
        node_attributes=attributes,
        nodes=_counted(nodes, counts),
        edges=_counted(edges, counts, "edges"),
    )


def produce_nodegexf(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    attributes = _attributes(NODE_GEXF_ATTRIBUTES)
    nodes = (
        GexfNode(domain_id, name, (title, description, keywords, n_pages, mean), size=mean)
        for domain_id, name, title, description, keywords, n_pages, mean in _domain_rows(land, options)
    )
    links = _run_lengths(_cross_domain_links(land, options, ("source__domain_id", "target__domain_id")))
    edges = (GexfEdge(source, target, weight, f"{source}_{target}") for (source, target), weight in links)
    return iter_gexf(
        creator=GEXF_CREATOR,
        description=_description(land, "nodegexf", options),
        node_attributes=attributes,
        nodes=_counted(nodes, counts),
        edges=_counted(edges, counts, "edges"),
    )


# --- The media graph -------------------------------------------------------------

# Identical bytes are one node; media never downloaded (no hash) fall back to one node per URL.
_MEDIA_KEY = Coalesce(
    NullIf("image_hash", Value("")),
    Concat(Value("url:"), "url", output_field=TextField()),
    output_field=TextField(),
)

_MEDIA_NODE_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("type", "string"),
    ("status", "string"),
    ("width", "integer"),
    ("height", "integer"),
    ("format", "string"),
    ("file_size", "long"),
    ("aspect_ratio", "double"),
    ("has_transparency", "boolean"),
    ("image_hash", "string"),
    ("phash", "string"),
    ("dhash", "string"),
    ("ahash", "string"),
    ("colorhash", "string"),
    ("dominant_color", "string"),
    ("dominant_color_share", "double"),
    ("occurrences", "integer"),
    ("domains", "integer"),
)

MEDIA_GEXF_PAGE_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("kind", "string"),
    ("url", "string"),
    ("title", "string"),
    ("domain", "string"),
    ("relevance", "integer"),
    ("depth", "integer"),
    ("media", "integer"),
    ("pages", "integer"),
    *_MEDIA_NODE_ATTRIBUTES,
)

MEDIA_GEXF_DOMAIN_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("kind", "string"),
    ("url", "string"),
    ("domain", "string"),
    ("media", "integer"),
    ("pages", "integer"),
    *_MEDIA_NODE_ATTRIBUTES,
)


def media_node_id(key: str) -> str:
    """The GEXF id of a media node from its grouping key (a SHA-256, 'url:' + URL, or 'cluster:' + id)."""
    if key.startswith("cluster:"):
        return f"cluster-{key[8:]}"
    if key.startswith("url:"):
        return "url-" + hashlib.sha1(key[4:].encode("utf-8", "replace")).hexdigest()
    return f"sha256-{key}"


def page_node_id(page_id: int) -> str:
    return f"page-{page_id}"


def domain_node_id(domain_id: int) -> str:
    return f"domain-{domain_id}"


_MEDIA_NODE_FIELDS = (
    "node_key",
    "expression__domain_id",
    "expression_id",
    "url",
    "type",
    "analysis_status",
    "width",
    "height",
    "format",
    "file_size",
    "aspect_ratio",
    "has_transparency",
    "image_hash",
    "phash",
    "dhash",
    "ahash",
    "colorhash",
    "dominant_colors",
)


class _NodeKey(TypedDict):
    node_key: str


# What a dynamic graph dates a page by: when it was published, or else when the crawler fetched it.
_PAGE_DATE = ("published_at", "fetched_at")
# Positive, so that it can filter through the page's multi-valued relation to its media.
_NOT_FAILED = (AnalysisStatus.PENDING, AnalysisStatus.DONE)


def _graph_media_q(options: ExportOptions, prefix: str = "") -> Q:
    """The media a media graph shows: failed ones only on request (a failed "image" is often an error page)."""
    return Q() if options.include_failed else Q(**{f"{prefix}analysis_status__in": _NOT_FAILED})


def _appeared(prefix: str = "") -> Coalesce:
    return Coalesce(*(f"{prefix}{name}" for name in _PAGE_DATE))


def _first_appearance(options: ExportOptions) -> Min | Value:
    """A group's earliest page date, computed only for a dynamic graph."""
    if options.dynamic:
        return Min(_appeared("expression__"))
    return Value(None, output_field=DateTimeField())


def gexf_date(value: datetime | None) -> str | None:
    """A dynamic graph's time: the UTC day (Gephi's timeline and networkx both read ``date``)."""
    if value is None:
        return None
    if timezone.is_aware(value):
        value = value.astimezone(UTC)
    return value.date().isoformat()


def _graph_media(land: Land, options: ExportOptions) -> QuerySet[Media]:
    return media_of(land, options).filter(_graph_media_q(options))


def _keyed_media(land: Land, options: ExportOptions) -> QuerySet[WithAnnotations[Media, _NodeKey]]:
    """The selected media with ``node_key``: the image's node (its cluster's, when merging clusters)."""
    queryset = _graph_media(land, options)
    if options.merge_clusters:
        # with_cluster_key annotates a name chosen at run time (``node_key`` by default), which the stubs cannot see.
        return cast("QuerySet[WithAnnotations[Media, _NodeKey]]", clusters.with_cluster_key(queryset, _MEDIA_KEY))
    return queryset.annotate(node_key=_MEDIA_KEY)


def _media_nodes(land: Land, options: ExportOptions, titles: list[str]) -> Iterator[GexfNode]:
    """One node per distinct image, from one stream sorted by image.

    Sorting by (image, domain, page) puts each image's rows together and lets its
    distinct pages and domains be counted by comparing neighbours, with no set.
    """
    queryset = _keyed_media(land, options).order_by("node_key", "expression__domain_id", "expression_id", "id")
    if options.dynamic:
        rows = _stream(
            queryset.annotate(appeared=_appeared("expression__")).values_list(*_MEDIA_NODE_FIELDS, "appeared")
        )
    else:
        rows = _stream(queryset.values_list(*_MEDIA_NODE_FIELDS))
    first: tuple | None = None
    occurrences = pages = domains = 0
    last_domain = last_page = None
    # A node appears with the first page known to show it; media never dated leave it unset (always there).
    start: datetime | None = None
    for row in rows:
        key, domain_id, page_id = row[0], row[1], row[2]
        if first is None or key != first[0]:
            if first is not None:
                yield _media_node(first, occurrences, pages, domains, titles, gexf_date(start))
            first, occurrences, pages, domains = row, 0, 0, 0
            last_domain = last_page = start = None
        if options.dynamic and row[-1] is not None and (start is None or row[-1] < start):
            start = row[-1]
        occurrences += 1
        if domain_id != last_domain:
            domains += 1
            last_domain = domain_id
        if page_id != last_page:
            pages += 1
            last_page = page_id
    if first is not None:
        yield _media_node(first, occurrences, pages, domains, titles, gexf_date(start))


def _media_node(
    row: tuple, occurrences: int, pages: int, domains: int, titles: list[str], start: str | None = None
) -> GexfNode:
    (
        key,
        _domain_id,
        _page_id,
        url,
        media_type,
        status,
        width,
        height,
        image_format,
        file_size,
        aspect_ratio,
        has_transparency,
        image_hash,
        phash,
        dhash,
        ahash,
        colorhash,
        dominant_colors,
    ) = row[: len(_MEDIA_NODE_FIELDS)]
    color, share = primary_color(dominant_colors)
    values = {
        "kind": "media",
        "url": url,
        "type": media_type,
        "status": status,
        "width": width,
        "height": height,
        "format": image_format,
        "file_size": file_size,
        "aspect_ratio": aspect_ratio,
        "has_transparency": has_transparency,
        "image_hash": image_hash or None,
        "phash": phash,
        "dhash": dhash,
        "ahash": ahash,
        "colorhash": colorhash,
        "dominant_color": color,
        "dominant_color_share": share,
        "occurrences": occurrences,
        "pages": pages,
        "domains": domains,
    }
    return GexfNode(
        media_node_id(key), url, [values.get(title) for title in titles], size=occurrences, color=color, start=start
    )


def _page_holder_nodes(land: Land, options: ExportOptions, titles: list[str]) -> Iterator[GexfNode]:
    # Filter then annotate on the same relation: the count covers the selected media types only.
    rows = _stream(
        pages_of(land, options)
        .filter(Q(medias__type__in=options.media_types) & _graph_media_q(options, "medias__"))
        .annotate(n_media=Count("medias"), appeared=_appeared())
        .order_by("id")
        .values_list("id", "url", "title", "domain__name", "relevance", "depth", "n_media", "appeared")
    )
    for page_id, url, title, domain, relevance, depth, n_media, appeared in rows:
        values = {
            "kind": "page",
            "url": url,
            "title": title,
            "domain": domain,
            "relevance": relevance,
            "depth": depth,
            "media": n_media,
        }
        start = gexf_date(appeared) if options.dynamic else None
        yield GexfNode(page_node_id(page_id), url, [values.get(t) for t in titles], size=n_media, start=start)


def _domain_holder_nodes(land: Land, options: ExportOptions, titles: list[str]) -> Iterator[GexfNode]:
    rows = _stream(
        _graph_media(land, options)
        .values("expression__domain_id", "expression__domain__name")
        .annotate(
            n_pages=Count("expression_id", distinct=True),
            n_media=Count("id"),
            appeared=_first_appearance(options),
        )
        .order_by("expression__domain_id")
        .values_list("expression__domain_id", "expression__domain__name", "n_pages", "n_media", "appeared")
    )
    for domain_id, name, n_pages, n_media, appeared in rows:
        values = {"kind": "domain", "domain": name, "pages": n_pages, "media": n_media}
        start = gexf_date(appeared) if options.dynamic else None
        yield GexfNode(domain_node_id(domain_id), name, [values.get(t) for t in titles], size=n_media, start=start)


def _media_edges(land: Land, options: ExportOptions) -> Iterator[GexfEdge]:
    """Holder -> media, weighted by how many media rows (URLs) link them."""
    holder = "expression_id" if options.nodes == "page" else "expression__domain_id"
    holder_id = page_node_id if options.nodes == "page" else domain_node_id
    rows = _stream(
        _keyed_media(land, options)
        .values(holder, "node_key")
        .annotate(weight=Count("id"), appeared=_first_appearance(options))
        .order_by(holder, "node_key")
        .values_list(holder, "node_key", "weight", "appeared")
    )
    for holder_pk, key, weight, appeared in rows:
        start = gexf_date(appeared) if options.dynamic else None
        yield GexfEdge(holder_id(holder_pk), media_node_id(key), weight, start=start)


def produce_mediagexf(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    by_page = options.nodes == "page"
    declared = MEDIA_GEXF_PAGE_ATTRIBUTES if by_page else MEDIA_GEXF_DOMAIN_ATTRIBUTES
    titles = [title for title, _ in declared]
    holders = _page_holder_nodes if by_page else _domain_holder_nodes

    def nodes() -> Iterator[GexfNode]:
        yield from holders(land, options, titles)
        yield from _media_nodes(land, options, titles)

    return iter_gexf(
        creator=GEXF_CREATOR,
        description=_description(
            land,
            "mediagexf",
            options,
            f"{options.nodes} nodes; media types {','.join(options.media_types)}"
            + ("; near-duplicate clusters merged into one node" if options.merge_clusters else "")
            + ("; failed media included" if options.include_failed else "; failed media left out")
            + ("; nodes and edges start at their first appearance" if options.dynamic else ""),
        ),
        node_attributes=_attributes(declared),
        nodes=_counted(nodes(), counts),
        edges=_counted(_media_edges(land, options), counts, "edges"),
        timeformat="date" if options.dynamic else None,
    )


# --- Near-duplicate clusters ------------------------------------------------------


def produce_clustercsv(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    rows = clusters.iter_cluster_rows(land.pk, minrel=options.minrel, depth=options.depth)
    columns = clusters.CLUSTER_CSV_COLUMNS
    return iter_csv(columns, _counted(([row[c] for c in columns] for row in rows), counts), raw=options.raw)


# --- Text in pictures ------------------------------------------------------------------


def produce_textcsv(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    rows = texts.word_rows(media_of(land, options), CHUNK_SIZE)
    return iter_csv(texts.TEXT_CSV_COLUMNS, _counted(rows, counts), raw=options.raw)


TEXT_GEXF_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("type", "string"),  # picture, cluster or word: Gephi's partition of the two sides
    ("url", "string"),  # a picture's URL (a cluster's: its first member's)
    ("thumbnail", "string"),  # the stored preview's key, its path in a dataset archive
    ("pictures", "integer"),  # pictures carrying the word, or merged into the cluster
    ("occurrences", "integer"),  # a word's occurrences in those pictures
    ("text", "string"),  # a picture's text as read
    ("language", "string"),
    ("cluster_id", "integer"),
)


def produce_textgexf(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    """Pictures (or clusters) and the words they carry: a bipartite graph, edges weighted by occurrences."""
    media = media_of(land, options)

    def nodes() -> Iterator[GexfNode]:
        values: tuple[Any, ...]
        for picture in texts.picture_nodes(media, CHUNK_SIZE, merge_clusters=options.merge_clusters):
            kind = "cluster" if picture.id.startswith("cluster-") else "picture"
            values = (kind, picture.url, picture.thumbnail, picture.pictures, None, picture.text, picture.language)
            yield GexfNode(picture.id, picture.label, (*values, picture.cluster_id), size=picture.pictures)
        for word in texts.word_nodes(media, CHUNK_SIZE):
            values = ("word", None, None, word.pictures, word.occurrences, None, None, None)
            yield GexfNode(word.id, word.word, values, size=word.pictures)

    edges = (
        GexfEdge(source, target, weight, f"{source}|{target}")
        for source, target, weight in texts.word_edges(media, CHUNK_SIZE, merge_clusters=options.merge_clusters)
    )
    return iter_gexf(
        creator=GEXF_CREATOR,
        description=_description(
            land,
            "textgexf",
            options,
            f"media types {','.join(options.media_types)}"
            + ("; near-duplicate clusters merged into one node" if options.merge_clusters else ""),
        ),
        node_attributes=_attributes(TEXT_GEXF_ATTRIBUTES),
        nodes=_counted(nodes(), counts),
        edges=_counted(edges, counts, "edges"),
        directed=False,
    )


# --- The dataset archive -------------------------------------------------------------

ARCHIVE_CSV_NAME = "media.csv"
ARCHIVE_README_NAME = "README.txt"
# The Media field holding the key of an archived original (media_analysis.stored), empty when none was kept.
ORIGINAL_KEY_FIELD = "original_key"
# What a key must look like to become a member name: a relative path of plain segments, so that a key, whatever
# wrote it, can neither read outside the storage nor extract outside the reader's folder.
_SAFE_MEMBER = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")


def archived_key_fields() -> tuple[str, ...]:
    """The Media fields whose stored files an archive carries: the thumbnail's and the original's."""
    return ("thumbnail_key", ORIGINAL_KEY_FIELD)


def _stored_keys(land: Land, options: ExportOptions, key_field: str) -> Iterator[str]:
    """Each distinct key the archive's CSV names in ``key_field``, once, from a sorted stream (no set in memory).

    The rule of the CSV's analysis values: a media whose latest attempt did not
    succeed names its kept files only with ``stale_values``.
    """
    queryset = media_of(land, options).exclude(**{f"{key_field}__isnull": True}).exclude(**{key_field: ""})
    if not options.stale_values:
        queryset = queryset.filter(analysis_status=AnalysisStatus.DONE)
    return _stream(queryset.order_by(key_field).values_list(key_field, flat=True).distinct())


def _is_member_name(key: str) -> bool:
    return _SAFE_MEMBER.fullmatch(key) is not None and ".." not in key.split("/")


def _archive_readme(land: Land, options: ExportOptions, counts: ExportCounts, created_at: datetime) -> str:
    missing = (
        f"{counts.missing} file(s) the CSV names could not be read from the storage (removed since, or a key that "
        "is no plain relative path) and are not in the archive.\n"
        if counts.missing
        else ""
    )
    return (
        f"Land {land.name!r} (id {land.pk}), exported by {GEXF_CREATOR} on {created_at.isoformat()}; "
        f"{options.describe()}; media types {','.join(options.media_types)}.\n\n"
        f"{ARCHIVE_CSV_NAME}: {counts.records} media, the columns of the mediacsv export (docs/EXPORTS.md).\n"
        "thumbnails/...: the stored previews, each at the path its row's thumbnail_key names; the file name is the\n"
        "SHA-256 of the original bytes (the row's image_hash) with the preview's extension.\n"
        "originals/... (when originals are archived): the downloaded files, named by their SHA-256.\n\n"
        f"{counts.files} stored file(s) in the archive.\n{missing}"
    )


def produce_archive(land: Land, options: ExportOptions, counts: ExportCounts) -> Iterator[bytes]:
    """A zip of the mediacsv and the stored files its rows name, written as it streams.

    The CSV comes first, then each distinct stored file in key order, then a
    README with the counts. Each file is read from the storage in chunks; nothing
    is held but the current chunk and the zip's directory (one record per file).
    """
    created_at = timezone.now()
    archive = ZipStream(created_at.astimezone(UTC).timetuple())
    yield from archive.add(ARCHIVE_CSV_NAME, produce_mediacsv(land, options, counts))
    for key_field in archived_key_fields():
        for key in _stored_keys(land, options, key_field):
            if not _is_member_name(key):
                counts.missing += 1
                continue
            try:
                handle = stored.open_stored(key)
            except OSError:
                # Removed from the storage since it was analysed: counted, and the README says how many.
                counts.missing += 1
                continue
            with handle:
                yield from archive.add(key, read_chunks(handle), compress=False)
            counts.files += 1
    readme = _archive_readme(land, options, counts, created_at)
    yield from archive.add(ARCHIVE_README_NAME, [readme.encode("utf-8")])
    yield from archive.close()


# --- Registry and entry point -------------------------------------------------------

EXPORT_TYPES: dict[str, ExportType] = {
    spec.name: spec
    for spec in (
        ExportType("pagecsv", "csv", False, "pages with their domain and tags", produce_pagecsv),
        ExportType("fullpagecsv", "csv", False, "pages with their readable text", produce_fullpagecsv),
        ExportType("nodecsv", "csv", False, "domains with their page count and mean relevance", produce_nodecsv),
        ExportType("mediacsv", "csv", True, "media with every analysis field", produce_mediacsv),
        ExportType("pagegexf", "gexf", False, "pages linked across domains", produce_pagegexf),
        ExportType("nodegexf", "gexf", False, "domains linked by their pages' links", produce_nodegexf),
        ExportType("mediagexf", "gexf", True, "pages or domains and the media they show", produce_mediagexf),
        ExportType("clustercsv", "csv", False, "near-duplicate image clusters, most spread first", produce_clustercsv),
        ExportType("archive", "zip", True, "a dataset: mediacsv and the stored thumbnails, zipped", produce_archive),
        ExportType("textcsv", "csv", True, "the words read in each picture, with their counts", produce_textcsv),
        ExportType("textgexf", "gexf", True, "pictures or clusters and the words they carry", produce_textgexf),
    )
}


def safe_filename_part(text: str, fallback: str) -> str:
    """ASCII letters, digits, dot, dash and underscore only; accents folded, the rest as '_'."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", folded).strip("._-")[:80]
    return slug or fallback


def default_filename(land: Land, export_type: str, extension: str, when: datetime | None = None) -> str:
    stamp = timezone.localtime(when or timezone.now()).strftime("%Y%m%d_%H%M%S")
    name = safe_filename_part(land.name, f"land{land.pk}")
    return f"export_land_{name}_{export_type}_{stamp}.{extension}"


@dataclass
class LandExport:
    """A validated export, ready to stream. ``counts`` fills in as ``chunks()`` is consumed."""

    land: Land
    spec: ExportType
    options: ExportOptions
    created_at: datetime = field(default_factory=timezone.now)
    counts: ExportCounts = field(default_factory=ExportCounts)

    @property
    def content_type(self) -> str:
        return self.spec.content_type

    @property
    def filename(self) -> str:
        return default_filename(self.land, self.spec.name, self.spec.extension, self.created_at)

    def chunks(self) -> Iterator[bytes]:
        self.counts = ExportCounts()
        return self.spec.produce(self.land, self.options, self.counts)

    def write_to(self, stream: IO[bytes]) -> ExportCounts:
        for chunk in self.chunks():
            stream.write(chunk)
        return self.counts


# --- Validation and entry points ------------------------------------------------


class _LowerCaseChoiceField(serializers.ChoiceField):
    """A choice given in any case, with spaces around; errors quote the value as given."""

    def to_internal_value(self, data: Any) -> str:
        text = str(data).strip().lower()
        if not text:
            self.fail("required")
        try:
            return super().to_internal_value(text)
        except serializers.ValidationError:
            self.fail("invalid_choice", input=str(data)[:40])


class _NonNegativeIntegerField(serializers.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        name = kwargs.pop("name")
        super().__init__(
            required=False,
            min_value=0,
            max_value=PAGE_NUMBER_MAX,
            error_messages={
                "invalid": f"{name} must be a non-negative integer, got {{input!r}}",
                # Formatted by Django's validators, hence %-style.
                "min_value": f"{name} must be a non-negative integer, got %(value)s",
                "max_value": f"{name} must be at most %(limit_value)s",
            },
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            self.fail("invalid", input=data)
        try:
            return int(str(data).strip())
        except ValueError:
            self.fail("invalid", input=str(data)[:40])


@extend_schema_field(OpenApiTypes.STR)
class _MinrelField(_NonNegativeIntegerField):
    """A relevance, or ``all``: every page, scored or not, as a job selects without ``minrel``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(name="minrel", **kwargs)
        self.error_messages["invalid"] = "minrel must be a non-negative integer or all, got {input!r}"

    def to_internal_value(self, data: Any) -> int | None:  # type: ignore[override]
        if isinstance(data, str) and data.strip().lower() == MINREL_ALL:
            return None
        return super().to_internal_value(data)

    def run_validators(self, value: Any) -> None:
        if value is not None:  # "all": no bound to check
            super().run_validators(value)

    def to_representation(self, value: int | None) -> str | int:  # type: ignore[override]
        return MINREL_ALL if value is None else value


@extend_schema_field(OpenApiTypes.STR)
class _MediaTypesField(serializers.Field):
    """Media types, comma-separated or repeated (``?media_types=img&media_types=video``), or a list."""

    default_error_messages = {
        "invalid": "Unknown media type(s) {unknown}; choose among " + ", ".join(MediaType.values),
    }

    def get_value(self, dictionary: Mapping[str, Any]) -> Any:
        if html.is_html_input(dictionary):
            joined = ",".join(dictionary.getlist(self.field_name))  # type: ignore[attr-defined]
            return joined or empty
        return super().get_value(dictionary)

    def to_internal_value(self, data: Any) -> tuple[str, ...]:
        items = data.split(",") if isinstance(data, str) else list(data)
        wanted = [str(item).strip() for item in items if str(item).strip()]
        unknown = [item for item in wanted if item not in MediaType.values]
        if unknown or not wanted:
            self.fail("invalid", unknown=", ".join(unknown) or "(none)")
        # The database order, not the caller's, so equal selections give equal exports.
        return tuple(value for value in MediaType.values if value in wanted)

    def to_representation(self, value: tuple[str, ...]) -> str:
        return ",".join(value)


class ExportRequestSerializer(serializers.Serializer):
    """The one validator of an export request: the API's query string, the admin form, the command."""

    type = _LowerCaseChoiceField(
        choices=list(EXPORT_TYPES),
        error_messages={
            "required": f"An export type is required; choose among {', '.join(EXPORT_TYPES)}",
            "invalid_choice": "Unknown export type {input!r}; choose among " + ", ".join(EXPORT_TYPES),
        },
    )
    minrel = _MinrelField(
        help_text=f"Minimum page relevance (default {DEFAULT_MINREL}), or {MINREL_ALL}: every page, scored or not"
    )
    depth = _NonNegativeIntegerField(name="depth", help_text="Maximum page depth")
    media_types = _MediaTypesField(
        required=False, help_text=f"Comma-separated among {','.join(MediaType.values)} (mediacsv, mediagexf)"
    )
    nodes = _LowerCaseChoiceField(
        choices=list(NODE_MODES),
        required=False,
        help_text="mediagexf only",
        error_messages={"invalid_choice": "nodes must be one of " + ", ".join(NODE_MODES) + ", got {input!r}"},
    )
    merge_clusters = serializers.BooleanField(
        required=False,
        help_text="mediagexf and textgexf only: one node per near-duplicate cluster",
        error_messages={"invalid": "merge_clusters must be true or false, got {input!r}"},
    )
    stale_values = serializers.BooleanField(
        required=False,
        help_text="mediacsv only: also write the values kept from an earlier attempt of media whose latest attempt "
        "failed or is still to come (default: analysis values of current successes only)",
        error_messages={"invalid": "stale_values must be true or false, got {input!r}"},
    )
    raw = serializers.BooleanField(
        required=False,
        help_text="CSV only: write text as stored, without neutralising cells a spreadsheet would run as formulas",
        error_messages={"invalid": "raw must be true or false, got {input!r}"},
    )
    dates = serializers.BooleanField(
        required=False,
        help_text="pagecsv, fullpagecsv, pagegexf: append the page's published_at and fetched_at after the "
        "crawler's columns",
        error_messages={"invalid": "dates must be true or false, got {input!r}"},
    )
    include_failed = serializers.BooleanField(
        required=False,
        help_text="mediagexf only: keep the media whose latest attempt failed (default: left out)",
        error_messages={"invalid": "include_failed must be true or false, got {input!r}"},
    )
    dynamic = serializers.BooleanField(
        required=False,
        help_text="mediagexf only: a dynamic graph whose nodes and edges start at their first appearance, for "
        "Gephi's timeline",
        error_messages={"invalid": "dynamic must be true or false, got {input!r}"},
    )

    @classmethod
    def validated(cls, data: Mapping[str, Any]) -> tuple[ExportType, ExportOptions]:
        """The export type and options, or ``InvalidParameters`` with a message per bad parameter.

        ``data`` is a query string or form (media_types may repeat) or plain values,
        where None and empty values count as absent.
        """
        if not html.is_html_input(data):
            data = {name: value for name, value in data.items() if value is not None and value not in ("", [])}
        serializer = cls(data=data)
        if not serializer.is_valid():
            errors = {name: [str(message) for message in messages] for name, messages in serializer.errors.items()}
            raise InvalidParameters("; ".join(message for messages in errors.values() for message in messages), errors)
        return serializer.validated_data["spec"], serializer.validated_data["options"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        spec = EXPORT_TYPES[attrs["type"]]
        errors: dict[str, list[str]] = {}
        # An option that would be silently ignored is a mistake worth saying.
        if attrs.get("merge_clusters") and spec.name not in MERGING_TYPES:
            errors["merge_clusters"] = [
                f"merge_clusters applies to {' and '.join(MERGING_TYPES)} only, not {spec.name}"
            ]
        if "media_types" in attrs and not spec.media:
            media_exports = ", ".join(name for name, other in EXPORT_TYPES.items() if other.media)
            errors["media_types"] = [f"media_types applies to the media exports ({media_exports}), not {spec.name}"]
        if "nodes" in attrs and spec.name != "mediagexf":
            errors["nodes"] = [f"nodes applies to mediagexf only, not {spec.name}"]
        if attrs.get("stale_values") and spec.name not in MEDIA_CSV_TYPES:
            errors["stale_values"] = [f"stale_values applies to mediacsv and archive only, not {spec.name}"]
        if attrs.get("raw") and spec.extension == "gexf":
            errors["raw"] = [f"raw applies to CSV exports and the archive only, not {spec.name}"]
        if attrs.get("dates") and spec.name not in DATED_TYPES:
            errors["dates"] = [f"dates applies to {', '.join(DATED_TYPES)} only, not {spec.name}"]
        for name in ("include_failed", "dynamic"):
            if attrs.get(name) and spec.name != "mediagexf":
                errors[name] = [f"{name} applies to mediagexf only, not {spec.name}"]
        if errors:
            raise serializers.ValidationError(errors)
        options = ExportOptions(
            minrel=attrs.get("minrel", DEFAULT_MINREL),
            depth=attrs.get("depth"),
            media_types=attrs.get("media_types", tuple(MediaType.values)),
            nodes=attrs.get("nodes", "page"),
            merge_clusters=attrs.get("merge_clusters", False),
            stale_values=attrs.get("stale_values", False),
            raw=attrs.get("raw", False),
            dates=attrs.get("dates", False),
            include_failed=attrs.get("include_failed", False),
            dynamic=attrs.get("dynamic", False),
        )
        return {"spec": spec, "options": options}


EXPORT_PARAMETERS = (
    "minrel",
    "depth",
    "media_types",
    "nodes",
    "merge_clusters",
    "stale_values",
    "raw",
    "dates",
    "include_failed",
    "dynamic",
)


def prepare_export(land: Land, export_type: str | None, **params: Any) -> LandExport:
    """The single entry point: ``params`` are those of ``EXPORT_PARAMETERS``, as text or typed.

    Raises ``InvalidParameters`` (with per-parameter messages) for a bad type or value.
    """
    unknown = set(params) - set(EXPORT_PARAMETERS)
    if unknown:
        raise InvalidParameters(f"Unknown export parameter(s): {', '.join(sorted(unknown))}")
    return export_request(land, {"type": export_type, **params})


def export_request(land: Land, data: Mapping[str, Any]) -> LandExport:
    """``prepare_export`` for a query string or form: ``type`` is one of its values, the others are ignored."""
    spec, options = ExportRequestSerializer.validated(data)
    return LandExport(land=land, spec=spec, options=options)
