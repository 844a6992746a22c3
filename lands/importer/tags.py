"""Tags (a tree per land) and the tagged passages of pages."""

from __future__ import annotations

from typing import Any

from lands.importer import values as lv
from lands.importer.context import _Context, _max_length, _upsert
from lands.models import Tag, TaggedContent


def _import_tags(ctx: _Context) -> None:
    counts = ctx.counts("tag")
    select = ctx.schema.select_list("tag", "t")
    legacy = ctx.conn.execute(
        f'SELECT {select} FROM "tag" t WHERE t."land_id" = ? ORDER BY t."id"', (ctx.legacy_land_id,)
    ).fetchall()
    existing: dict[tuple[str, int | None], Tag] = {}
    if not ctx.land_is_new:
        for tag in Tag.objects.filter(land_id=ctx.land_id).order_by("-id"):
            existing[(tag.name, tag.parent_id)] = tag
    of_land = {row["id"] for row in legacy}
    pending = []
    for row in legacy:
        if row["parent_id"] is not None and row["parent_id"] not in of_land:
            counts.skipped["parent tag missing"] += 1
        else:
            pending.append(row)
    # Parents before children, one bulk write per level of the tree.
    while pending:
        level = [row for row in pending if row["parent_id"] is None or row["parent_id"] in ctx.tag_ids]
        if not level:
            break
        placed = {row["id"] for row in level}
        pending = [row for row in pending if row["id"] not in placed]
        rows: list[tuple[tuple[str, int | None], dict[str, Any], dict[str, Any]]] = []
        legacy_of_key: dict[tuple[str, int | None], list[int]] = {}
        for row in level:
            name = lv.coerce_text(row["name"], _max_length(Tag, "name")) or ""
            parent = ctx.tag_ids.get(row["parent_id"]) if row["parent_id"] is not None else None
            key = (name, parent)
            if key in legacy_of_key:
                counts.skipped["duplicate name under the same parent"] += 1
                legacy_of_key[key].append(row["id"])
                continue
            legacy_of_key[key] = [row["id"]]
            values: dict[str, Any] = {
                "land_id": ctx.land_id,
                "name": name,
                "parent_id": parent,
                "sorting": ctx.read("tag.sorting", lv.coerce_int, row["sorting"]) or 0,
                "color": lv.coerce_text(row["color"], _max_length(Tag, "color")) or "",
            }
            rows.append((key, values, {}))
        ids = _upsert(Tag, rows, existing, counts, ctx.batch_size)
        for key, legacy_ids in legacy_of_key.items():
            for legacy_id in legacy_ids:
                ctx.tag_ids[legacy_id] = ids[key]
    if pending:
        counts.skipped["parent tag cycle"] += len(pending)
    ctx.notify("tags", len(legacy))


def _import_tagged_content(ctx: _Context) -> None:
    counts = ctx.counts("taggedcontent")
    existing: dict[tuple[int, int, int, int], TaggedContent] = {}
    if not ctx.land_is_new:
        for content in TaggedContent.objects.filter(tag__land_id=ctx.land_id).order_by("-id"):
            existing[(content.tag_id, content.expression_id, content.from_char, content.to_char)] = content
    seen: set[tuple[int, int, int, int]] = set()
    select = ctx.schema.select_list("taggedcontent", "c")
    sql = (
        f'SELECT {select}, e."land_id" AS "page_land" FROM "taggedcontent" c JOIN "tag" t ON t."id" = c."tag_id" '
        'LEFT JOIN "expression" e ON e."id" = c."expression_id" WHERE t."land_id" = ? ORDER BY c."id"'
    )
    for batch in ctx.rows(sql, [ctx.legacy_land_id]):
        rows: list[tuple[tuple[int, int, int, int], dict[str, Any], dict[str, Any]]] = []
        page_ids = ctx.expression_ids.get_many([row["expression_id"] for row in batch])
        for row, page_id in zip(batch, page_ids, strict=True):
            tag_id = ctx.tag_ids.get(row["tag_id"])
            if tag_id is None:
                counts.skipped["tag skipped"] += 1
                continue
            if row["page_land"] is None:
                counts.skipped["page missing"] += 1
                continue
            if row["page_land"] != ctx.legacy_land_id:
                counts.skipped["page in another land"] += 1
                continue
            if page_id is None:
                counts.skipped["page skipped"] += 1
                continue
            from_char = ctx.read("taggedcontent.from_char", lv.coerce_int, row["from_char"]) or 0
            to_char = ctx.read("taggedcontent.to_char", lv.coerce_int, row["to_char"]) or 0
            key = (tag_id, page_id, from_char, to_char)
            if key in seen:
                counts.skipped["duplicate"] += 1
                continue
            seen.add(key)
            values: dict[str, Any] = {
                "tag_id": tag_id,
                "expression_id": page_id,
                "from_char": from_char,
                "to_char": to_char,
                "text": lv.coerce_text(row["text"]) or "",
            }
            rows.append((key, values, {}))
        _upsert(TaggedContent, rows, existing, counts, ctx.batch_size, new_ids=False)
        ctx.notify("tagged content", len(batch))
