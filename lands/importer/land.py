"""The land row itself and the domains its pages are on."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from lands.importer import values as lv
from lands.importer.context import _chunks, _Context, _max_length, _read, _upsert
from lands.importer.report import LandReport
from lands.importer.source import LegacySchema
from lands.models import Domain, Land


def _import_land_row(schema: LegacySchema, row: sqlite3.Row, name: str, report: LandReport, now: datetime) -> int:
    values: dict[str, Any] = {"name": name}
    if schema.has("land", "description"):
        values["description"] = lv.coerce_text(row["description"]) or ""
    if schema.has("land", "lang"):
        values["lang"] = lv.coerce_text(row["lang"], _max_length(Land, "lang")) or ""
    created_at = None
    if schema.has("land", "created_at"):
        created_at = _read(report, "land.created_at", lv.parse_legacy_datetime, row["created_at"])
    if created_at is not None:
        values["created_at"] = created_at
    existing = {land.name: land for land in Land.objects.filter(name=name)}
    report.created = name not in existing
    ids = _upsert(Land, [(name, values, {"created_at": now})], existing, report.tables["land"], 1)
    report.land_id = ids[name]
    return ids[name]


# --- Domains -----------------------------------------------------------------------


def _domain_name(value: Any) -> str | None:
    text = lv.coerce_text(value)
    if text is None:
        return None
    text = text.strip()
    return text[: _max_length(Domain, "name")] or None


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return _domain_name(host)


def _import_domains(ctx: _Context) -> tuple[dict[int, int], dict[int, int]]:
    """Domains the land's pages are on. Returns legacy domain id -> ours, and page -> ours for pages
    whose legacy domain is missing or nameless (their domain is derived from the page URL)."""
    counts = ctx.counts("domain")
    select = ctx.schema.select_list("domain", "d")
    legacy_rows = ctx.conn.execute(
        f'SELECT {select} FROM "domain" d WHERE d."id" IN '
        '(SELECT DISTINCT "domain_id" FROM "expression" WHERE "land_id" = ?) ORDER BY d."id"',
        (ctx.legacy_land_id,),
    ).fetchall()

    # Old crawler files may hold one name several times: keep the fetched one, else the oldest.
    best: dict[str, sqlite3.Row] = {}
    name_of_legacy: dict[int, str] = {}
    for row in legacy_rows:
        name = _domain_name(row["name"])
        if name is None:
            continue
        name_of_legacy[row["id"]] = name
        current = best.get(name)
        if current is None or (current["fetched_at"] is None and row["fetched_at"] is not None):
            if current is not None:
                counts.skipped["duplicate name"] += 1
            best[name] = row
        else:
            counts.skipped["duplicate name"] += 1

    # Pages whose domain row is missing or nameless.
    derived_of_page: dict[int, str] = {}
    orphan_pages = ctx.conn.execute(
        'SELECT e."id", e."url", e."domain_id" FROM "expression" e WHERE e."land_id" = ?', (ctx.legacy_land_id,)
    )
    for page_id, url, domain_id in orphan_pages:
        if domain_id in name_of_legacy:
            continue
        host = _host_of(lv.coerce_text(url))
        if host is not None:
            derived_of_page[page_id] = host
    derived_names = set(derived_of_page.values()) - set(best)
    if derived_of_page:
        ctx.report.warnings["domain derived from page URL"] += len(derived_of_page)

    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for name, row in best.items():
        values: dict[str, Any] = {"name": name}
        for column in ("http_status", "title", "description", "keywords"):
            if ctx.schema.has("domain", column):
                values[column] = lv.coerce_text(row[column], _max_length(Domain, column))
        if ctx.schema.has("domain", "fetched_at"):
            values["fetched_at"] = ctx.read("domain.fetched_at", lv.parse_legacy_datetime, row["fetched_at"])
        created_at = ctx.read("domain.created_at", lv.parse_legacy_datetime, row["created_at"])
        if created_at is not None:
            values["created_at"] = created_at
        rows.append((name, values, {} if created_at else {"created_at": ctx.now}))
    # Known only from page URLs: no values that could overwrite an existing domain's.
    for name in sorted(derived_names):
        rows.append((name, {"name": name}, {"created_at": ctx.now}))

    ids: dict[str, int] = {}
    for chunk in _chunks(rows, ctx.batch_size):
        names = [key for key, _, _ in chunk]
        existing = {domain.name: domain for domain in Domain.objects.filter(name__in=names)}
        ids.update(_upsert(Domain, chunk, existing, counts, ctx.batch_size))
    ctx.notify("domains", len(legacy_rows))
    legacy_ids = {legacy_id: ids[name] for legacy_id, name in name_of_legacy.items()}
    page_ids = {page_id: ids[name] for page_id, name in derived_of_page.items()}
    return legacy_ids, page_ids
