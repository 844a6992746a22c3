"""Pages (the crawler's expressions) and the links between them."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Q

from lands.importer import values as lv
from lands.importer.context import _Context, _max_length, _upsert, insert_rows
from lands.models import Expression, ExpressionLink, Land

# --- Expressions -------------------------------------------------------------------

_EXPRESSION_TEXT = ("http_status", "lang", "title", "description", "keywords", "readable")
_EXPRESSION_DATES = ("published_at", "fetched_at", "approved_at", "readable_at")


def _page_url(value: Any) -> str | None:
    text = lv.coerce_text(value)
    if text is None:
        return None
    return text.strip() or None


def _preferred_ids(candidates: Iterable[tuple[Any, int, int]]) -> dict[int, int]:
    """For rows sharing a key, the one to keep: highest rank, then lowest id.

    ``candidates`` are ``(key, rank, legacy_id)``. Returns loser id -> winner id.
    """
    winners: dict[Any, tuple[int, int]] = {}
    losers: dict[int, Any] = {}
    for key, rank, legacy_id in candidates:
        current = winners.get(key)
        if current is None:
            winners[key] = (rank, legacy_id)
            continue
        if (rank, -legacy_id) > (current[0], -current[1]):
            winners[key] = (rank, legacy_id)
            losers[current[1]] = key
        else:
            losers[legacy_id] = key
    return {loser: winners[key][1] for loser, key in losers.items()}


# Any function of the key to a signed 64-bit integer that equal keys share (a test makes every key collide).
_key_hash: Callable[[object], int] = hash


def _duplicate_pages(ctx: _Context) -> dict[int, int]:
    """``_preferred_ids`` of the land's pages by URL (as ``_page_url`` reads it), the fetched page first.

    Holding every page's URL to find the few that repeat would cost memory in proportion to the land's pages:
    a first pass keeps only the hash of each URL (eight bytes a page), and a second gives ``_preferred_ids`` the
    pages whose hash is shared, in the same order, so the same rows in the same order as all of them would.
    """
    fetched = 'e."fetched_at" IS NOT NULL' if ctx.schema.has("expression", "fetched_at") else "0"
    sql = f'SELECT e."id", e."url", {fetched} FROM "expression" e WHERE e."land_id" = ?'
    hashes = array("q", (_key_hash(_page_url(url)) for _, url, _ in ctx.conn.execute(sql, (ctx.legacy_land_id,))))
    ordered = np.frombuffer(hashes, dtype=np.int64)
    ordered.sort()
    shared = set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())
    del ordered, hashes
    if not shared:
        return {}

    def candidates() -> Iterator[tuple[str | None, int, int]]:
        for page_id, url, rank in ctx.conn.execute(sql, (ctx.legacy_land_id,)):
            key = _page_url(url)
            if _key_hash(key) in shared:
                yield key, int(rank), page_id

    return _preferred_ids(candidates())


def _page_ids(land_id: int, urls: list[str]) -> dict[str, int]:
    """Our ids of pages of the land just created, by URL (the land holds one page per URL)."""
    return dict(Expression.objects.filter(land_id=land_id, url__in=urls).values_list("url", "id"))


def _import_expressions(ctx: _Context, domain_ids: dict[int, int], domain_of_page: dict[int, int]) -> None:
    counts = ctx.counts("expression")
    duplicates = _duplicate_pages(ctx)
    ctx.pages_merged = bool(duplicates)

    select = ctx.schema.select_list("expression", "e")
    fields = [name for name in _EXPRESSION_TEXT if ctx.schema.has("expression", name)]
    dates = [name for name in _EXPRESSION_DATES if ctx.schema.has("expression", name)]
    numbers = [name for name in ("relevance", "depth") if ctx.schema.has("expression", name)]
    for batch in ctx.rows(
        f'SELECT {select} FROM "expression" e WHERE e."land_id" = ? ORDER BY e."id"', [ctx.legacy_land_id]
    ):
        rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        legacy_of_url: dict[str, int] = {}
        for row in batch:
            url = _page_url(row["url"])
            if url is None:
                counts.skipped["empty url"] += 1
                continue
            if row["id"] in duplicates:
                counts.skipped["duplicate url"] += 1
                continue
            domain_id = domain_ids.get(row["domain_id"]) or domain_of_page.get(row["id"])
            if domain_id is None:
                counts.skipped["no domain"] += 1
                continue
            values: dict[str, Any] = {"land_id": ctx.land_id, "url": url, "domain_id": domain_id}
            for name in fields:
                values[name] = lv.coerce_text(row[name], _max_length(Expression, name))
            for name in dates:
                values[name] = ctx.read(f"expression.{name}", lv.parse_legacy_datetime, row[name])
            for name in numbers:
                values[name] = ctx.read(f"expression.{name}", lv.coerce_int, row[name])
            created_at = ctx.read("expression.created_at", lv.parse_legacy_datetime, row["created_at"])
            if created_at is not None:
                values["created_at"] = created_at
            rows.append((url, values, {} if created_at else {"created_at": ctx.now}))
            legacy_of_url[url] = row["id"]
        existing: dict[str, Expression] = {}
        if rows and not ctx.land_is_new:
            queryset = Expression.objects.filter(land_id=ctx.land_id, url__in=list(legacy_of_url)).order_by("-id")
            existing = {page.url: page for page in queryset}
        ids = _upsert(Expression, rows, existing, counts, ctx.batch_size, ids_of=partial(_page_ids, ctx.land_id))
        ctx.expression_ids.update((legacy_of_url[url], page_id) for url, page_id in ids.items())
        ctx.notify("pages", len(batch))
    # A page merged into another takes its id. Read as one lookup of the winners, then the map written once; a
    # winner given an id by this loop (a legacy id repeated) is read from what the loop gave.
    given: dict[Any, int] = {}
    winners = dict(zip(duplicates.values(), ctx.expression_ids.get_many(list(duplicates.values())), strict=True))
    for loser, winner in duplicates.items():
        page_id = given[winner] if winner in given else winners[winner]
        if page_id is not None:
            given[loser] = page_id
    ctx.expression_ids.update(given.items())


# --- Links -------------------------------------------------------------------------

# Why a link was not made, by the end that is missing.
_LAND_NOT_IMPORTED = {"target": "target's land not imported", "source": "source's land not imported"}
_PAGE_NOT_IMPORTED = {"target": "target page not imported", "source": "source page not imported"}


def _pages_of_other_lands(keys: set[tuple[str, str]]) -> tuple[dict[tuple[str, str], int], set[str]]:
    """Our pages for (legacy land name, URL) keys, and the names among them of lands not in our database."""
    names = {name for name, _ in keys}
    found: dict[tuple[str, str], int] = {}
    rows = (
        Expression.objects.filter(land__name__in=names, url__in={url for _, url in keys})
        .order_by("id")
        .values_list("land__name", "url", "id")
    )
    for name, url, page_id in rows:
        found.setdefault((name, url), page_id)
    missing_lands: set[str] = set()
    if len(found) < len(keys):
        missing_lands = names - set(Land.objects.filter(name__in=names).values_list("name", flat=True))
    return found, missing_lands


# Three parameters a pair, within SQLite's smallest limit of parameters a statement (999).
_SQLITE_PAIRS_PER_STATEMENT = 300


def _insert_new_links(pairs: list[tuple[int, int]]) -> int:
    """Write the pairs not yet in the table, in their order, a repeated pair once; returns how many were written.

    A new land's pairs repeat only when two of its legacy pages were merged into one of ours, or when the file
    repeats a link: the table's unique pair finds them, so the import holds no set of every pair it made. The
    pairs already there are left out by the statement itself rather than by a conflict, which would spend an id.
    """
    unique = list(dict.fromkeys(pairs))
    quote = connection.ops.quote_name
    table = quote(ExpressionLink._meta.db_table)
    source, target = quote("source_id"), quote("target_id")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement for the batch; the rows of one statement do not see each other, hence the unique list.
            cursor.execute(
                f"INSERT INTO {table} ({source}, {target}) SELECT n.s, n.t "
                "FROM unnest(%s::bigint[], %s::bigint[]) WITH ORDINALITY AS n(s, t, i) "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} l WHERE l.{source} = n.s AND l.{target} = n.t) ORDER BY n.i",
                [[pair[0] for pair in unique], [pair[1] for pair in unique]],
            )
            return cursor.rowcount
        # A statement a few hundred pairs long, as a row each would cost a statement's overhead per link.
        written = 0
        step = _SQLITE_PAIRS_PER_STATEMENT
        for start in range(0, len(unique), step):
            chunk = unique[start : start + step]
            cursor.execute(
                f"INSERT INTO {table} ({source}, {target}) SELECT v.column1, v.column2 "
                f"FROM (VALUES {', '.join(['(%s, %s, %s)'] * len(chunk))}) AS v "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} l WHERE l.{source} = v.column1 AND l.{target} = v.column2) "
                "ORDER BY v.column3",
                [value for order, (first, second) in enumerate(chunk) for value in (first, second, order)],
            )
            written += cursor.rowcount
        return written


def _legacy_links_repeat(ctx: _Context) -> bool:
    """Whether the file holds a link from one of the land's pages twice (its table may have no unique pair)."""
    row = ctx.conn.execute(
        'SELECT 1 FROM "expressionlink" l JOIN "expression" s ON s."id" = l."source_id" WHERE s."land_id" = ? '
        'GROUP BY l."source_id", l."target_id" HAVING COUNT(*) > 1 LIMIT 1',
        (ctx.legacy_land_id,),
    ).fetchone()
    return row is not None


def _import_links(ctx: _Context) -> None:
    """The links of the land's pages, to pages of this land or of any land in our database.

    A link between two lands is made once both ends exist: by this land when the
    other one is already here (imported earlier, in this run or before), else by
    the other one when this run imports it later. What cannot be linked is
    counted as skipped, by reason.
    """
    counts = ctx.counts("expressionlink")
    # A new land's pairs are new (its pages are): the database drops the repeated ones (_insert_new_links).
    new_land = ctx.land_is_new
    # Within the land, a pair can repeat only through merged pages or a link the file repeats; without either,
    # the land's own links take the bulk path and are not looked up one by one.
    plain = new_land and not ctx.pages_merged and not _legacy_links_repeat(ctx)
    existing: set[tuple[int, int]] = set()
    if not new_land:
        existing = set(
            ExpressionLink.objects.filter(Q(source__land_id=ctx.land_id) | Q(target__land_id=ctx.land_id)).values_list(
                "source_id", "target_id"
            )
        )
    seen: set[tuple[int, int]] = set()
    land_name_length = _max_length(Land, "name")

    def add(pair: tuple[int, int], new_links: list[tuple[int, int]]) -> None:
        if new_land:
            new_links.append(pair)
            return
        if pair in seen:
            counts.skipped["duplicate (merged pages)"] += 1
            return
        seen.add(pair)
        if pair in existing:
            counts.unchanged += 1
            return
        new_links.append(pair)

    def write(pairs: list[tuple[int, int]]) -> None:
        if pairs:
            insert_rows(ExpressionLink, [{"source_id": source, "target_id": target} for source, target in pairs])
            counts.created += len(pairs)

    def write_new(pairs: list[tuple[int, int]]) -> None:
        if pairs:
            created = _insert_new_links(pairs)
            counts.created += created
            if created < len(pairs):
                counts.skipped["duplicate (merged pages)"] += len(pairs) - created

    def link_batches(sql: str, params: list[int], other_end: str) -> None:
        """Links whose ``other_end`` ("target" or "source") may be in another land."""
        for batch in ctx.rows(sql, params):
            new_links: list[tuple[int, int]] = []
            new_across: list[tuple[int, int]] = []  # to or from another land's pages
            elsewhere: list[tuple[int, tuple[str, str]]] = []
            ours_ids = ctx.expression_ids.get_many([row[0] for row in batch])
            in_land_ids = ctx.expression_ids.get_many([row[1] for row in batch])
            for (_, _, other_land, other_url, other_land_name), ours, in_land in zip(
                batch, ours_ids, in_land_ids, strict=True
            ):
                if other_land is None:
                    counts.skipped[f"{other_end} page missing"] += 1
                    continue
                if other_land != ctx.legacy_land_id and other_land in ctx.lands_imported_later:
                    continue  # that land's import makes it, once this one's pages exist
                if ours is None:
                    counts.skipped["page skipped"] += 1
                    continue
                if other_land == ctx.legacy_land_id:
                    other = in_land
                    if other is None:
                        counts.skipped["page skipped"] += 1
                        continue
                    add((ours, other) if other_end == "target" else (other, ours), new_links)
                    continue
                name = lv.coerce_text(other_land_name, land_name_length) or ""
                url = _page_url(other_url)
                if url is None:
                    counts.skipped[_PAGE_NOT_IMPORTED[other_end]] += 1
                    continue
                elsewhere.append((ours, (name, url)))
            if elsewhere:
                found, missing_lands = _pages_of_other_lands({key for _, key in elsewhere})
                for ours, key in elsewhere:
                    other = found.get(key)
                    if other is None:
                        reasons = _LAND_NOT_IMPORTED if key[0] in missing_lands else _PAGE_NOT_IMPORTED
                        counts.skipped[reasons[other_end]] += 1
                        continue
                    add((ours, other) if other_end == "target" else (other, ours), new_across)
            if new_land:
                if plain:
                    write(new_links)
                else:
                    write_new(new_links)
                # Two pages of another land may be one of ours: those pairs are always checked.
                write_new(new_across)
            else:
                write(new_links + new_across)
            ctx.notify("links", len(batch))

    # Links from the land's pages, wherever they point.
    link_batches(
        'SELECT l."source_id", l."target_id", t."land_id", t."url", tl."name" FROM "expressionlink" l '
        'JOIN "expression" s ON s."id" = l."source_id" '
        'LEFT JOIN "expression" t ON t."id" = l."target_id" '
        'LEFT JOIN "land" tl ON tl."id" = t."land_id" WHERE s."land_id" = ?',
        [ctx.legacy_land_id],
        "target",
    )
    # Links to the land's pages from pages of other lands.
    link_batches(
        'SELECT l."target_id", l."source_id", s."land_id", s."url", sl."name" FROM "expressionlink" l '
        'JOIN "expression" t ON t."id" = l."target_id" '
        'JOIN "expression" s ON s."id" = l."source_id" '
        'LEFT JOIN "land" sl ON sl."id" = s."land_id" WHERE t."land_id" = ? AND s."land_id" != ?',
        [ctx.legacy_land_id, ctx.legacy_land_id],
        "source",
    )
