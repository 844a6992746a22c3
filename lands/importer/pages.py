"""Pages (the crawler's expressions) and the links between them."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

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


def _page_ids(land_id: int, urls: list[str]) -> dict[str, int]:
    """Our ids of pages of the land just created, by URL (the land holds one page per URL)."""
    return dict(Expression.objects.filter(land_id=land_id, url__in=urls).values_list("url", "id"))


def _import_expressions(ctx: _Context, domain_ids: dict[int, int], domain_of_page: dict[int, int]) -> None:
    counts = ctx.counts("expression")
    fetched = 'e."fetched_at" IS NOT NULL' if ctx.schema.has("expression", "fetched_at") else "0"
    pages = ctx.conn.execute(
        f'SELECT e."id", e."url", {fetched} FROM "expression" e WHERE e."land_id" = ?', (ctx.legacy_land_id,)
    )
    duplicates = _preferred_ids((_page_url(url), int(rank), page_id) for page_id, url, rank in pages)

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
    for loser, winner in duplicates.items():
        if winner in ctx.expression_ids:
            ctx.expression_ids[loser] = ctx.expression_ids[winner]


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


def _import_links(ctx: _Context) -> None:
    """The links of the land's pages, to pages of this land or of any land in our database.

    A link between two lands is made once both ends exist: by this land when the
    other one is already here (imported earlier, in this run or before), else by
    the other one when this run imports it later. What cannot be linked is
    counted as skipped, by reason.
    """
    counts = ctx.counts("expressionlink")
    existing: set[tuple[int, int]] = set()
    if not ctx.land_is_new:
        existing = set(
            ExpressionLink.objects.filter(Q(source__land_id=ctx.land_id) | Q(target__land_id=ctx.land_id)).values_list(
                "source_id", "target_id"
            )
        )
    seen: set[tuple[int, int]] = set()
    land_name_length = _max_length(Land, "name")

    def add(pair: tuple[int, int], new_links: list[dict[str, Any]]) -> None:
        if pair in seen:
            counts.skipped["duplicate (merged pages)"] += 1
            return
        seen.add(pair)
        if pair in existing:
            counts.unchanged += 1
            return
        new_links.append({"source_id": pair[0], "target_id": pair[1]})

    def link_batches(sql: str, params: list[int], other_end: str) -> None:
        """Links whose ``other_end`` ("target" or "source") may be in another land."""
        for batch in ctx.rows(sql, params):
            new_links: list[dict[str, Any]] = []
            elsewhere: list[tuple[int, tuple[str, str]]] = []
            for ours_legacy, other_legacy, other_land, other_url, other_land_name in batch:
                if other_land is None:
                    counts.skipped[f"{other_end} page missing"] += 1
                    continue
                if other_land != ctx.legacy_land_id and other_land in ctx.lands_imported_later:
                    continue  # that land's import makes it, once this one's pages exist
                ours = ctx.expression_ids.get(ours_legacy)
                if ours is None:
                    counts.skipped["page skipped"] += 1
                    continue
                if other_land == ctx.legacy_land_id:
                    other = ctx.expression_ids.get(other_legacy)
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
                    add((ours, other) if other_end == "target" else (other, ours), new_links)
            if new_links:
                insert_rows(ExpressionLink, new_links)
                counts.created += len(new_links)
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
