"""Media of the pages, with the crawler's analysis values; a newer analysis of ours wins."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from lands.importer import values as lv
from lands.importer.context import _Context, _max_length, _upsert
from lands.importer.pages import _page_url, _preferred_ids
from lands.models import CRAWLER_ANALYSIS_VERSION, AnalysisStatus, Media

_BIGINT_MAX = 2**63 - 1

_MEDIA_INTEGERS = {"width": (0, 2**31 - 1), "height": (0, 2**31 - 1), "file_size": (0, _BIGINT_MAX)}
# The only fields a legacy row may still change on a media analysed here since.
_MEDIA_CRAWLER_FIELDS = ("expression_id", "url", "type")
# Fields whose value means the crawler stored something about the file.
_MEDIA_VALUE_FIELDS = (
    "width",
    "height",
    "file_size",
    "format",
    "color_mode",
    "has_transparency",
    "aspect_ratio",
    "dominant_colors",
    "websafe_colors",
    "exif_data",
    "image_hash",
    "content_tags",
    "nsfw_score",
)


def _is_real_result(values: dict[str, Any]) -> bool:
    """Whether the crawler's values describe a decoded file, not the hash of whatever came back.

    The crawler recorded a SHA-256 and no error for error pages and undecodable
    files too; only dimensions and a format show that an image was read.
    """
    width, height = values.get("width"), values.get("height")
    has_size = width is not None and height is not None and width > 0 and height > 0
    return has_size and bool(values.get("format") or values.get("mime_type"))


def _media_analysis_values(ctx: _Context, row: sqlite3.Row, status_probe: Media) -> dict[str, Any]:
    # The legacy file's media columns: a set lookup per value, not a schema call.
    has = ctx.schema.columns.get("media", frozenset()).__contains__
    values: dict[str, Any] = {}
    for name, (low, high) in _MEDIA_INTEGERS.items():
        if has(name):
            values[name] = ctx.read(f"media.{name}", lv.coerce_int, row[name])
            if values[name] is not None and not low <= values[name] <= high:
                ctx.report.warnings[f"unreadable media.{name}"] += 1
                values[name] = None
    for name in ("format", "color_mode"):
        if has(name):
            values[name] = lv.coerce_text(row[name], _max_length(Media, name))
    if has("format"):
        values["mime_type"] = lv.mime_type_for_format(values["format"])
    if has("has_transparency"):
        values["has_transparency"] = ctx.read("media.has_transparency", lv.coerce_bool, row["has_transparency"])
    for name in ("aspect_ratio", "nsfw_score"):
        if has(name):
            values[name] = ctx.read(f"media.{name}", lv.coerce_float, row[name])
    if has("dominant_colors"):
        values["dominant_colors"] = ctx.read(
            "media.dominant_colors", lv.normalise_dominant_colors, row["dominant_colors"]
        )
    if has("websafe_colors"):
        values["websafe_colors"] = ctx.read("media.websafe_colors", lv.normalise_websafe_colors, row["websafe_colors"])
    if has("exif_data"):
        exif = ctx.read("media.exif_data", lv.normalise_exif, row["exif_data"])
        make, model, taken = lv.exif_summary(exif)
        values.update(
            exif_data=exif,
            exif_make=lv.coerce_text(make, _max_length(Media, "exif_make")),
            exif_model=lv.coerce_text(model, _max_length(Media, "exif_model")),
            exif_datetime=lv.coerce_text(taken, _max_length(Media, "exif_datetime")),
        )
    if has("content_tags"):
        tags = ctx.read("media.content_tags", lv.parse_legacy_literal, row["content_tags"])
        values["content_tags"] = lv.to_json_safe(tags)
    if has("image_hash"):
        digest = lv.coerce_text(row["image_hash"], _max_length(Media, "image_hash"))
        values["image_hash"] = (digest.strip().lower() or None) if digest else None
    analyzed_at = None
    if has("analyzed_at"):
        analyzed_at = ctx.read("media.analyzed_at", lv.parse_legacy_datetime, row["analyzed_at"])
        error = lv.coerce_text(row["analysis_error"]) if has("analysis_error") else None
        status = lv.legacy_status(analyzed_at, error)
        if status == AnalysisStatus.DONE and not _is_real_result(values):
            # Not analysed as far as we can tell: the next job takes it; its values stay, marked as the crawler's.
            status = AnalysisStatus.PENDING
        # The model's own rule keeps is_processed in step with the status.
        status_probe.set_status(status)
        values.update(
            analyzed_at=analyzed_at,
            analysis_error=error,
            analysis_status=status_probe.analysis_status,
            is_processed=status_probe.is_processed,
            error_class=lv.classify_legacy_error(error) if status == AnalysisStatus.FAILED else None,
        )
    holds_values = any(values.get(name) is not None for name in _MEDIA_VALUE_FIELDS)
    values["analysis_version"] = CRAWLER_ANALYSIS_VERSION if holds_values else None
    values["values_at"] = analyzed_at if holds_values else None
    return values


def _ours_is_newer(ours: Media, values: dict[str, Any]) -> bool:
    if ours.analyzed_at is None:
        return False
    legacy = values.get("analyzed_at")
    return legacy is None or ours.analyzed_at > legacy


def _duplicate_media(ctx: _Context, candidates: Iterable[tuple[int, int, Any, Any]]) -> dict[int, int]:
    """Media rows that repeat another one of the same page (our page, same URL): loser id -> winner id.

    ``candidates`` are ``(id, legacy page id, url, rank)`` ordered by legacy page. Only the media of the page
    at hand are held, except for pages merged with another one (duplicated page URLs), whose media are
    compared across the whole land; memory grows with the duplicates, not with the land.
    """
    merged_pages = _merged_pages(ctx)
    duplicates: dict[int, int] = {}
    across: list[tuple[tuple[int, str], int, int]] = []
    page: list[tuple[tuple[int, str], int, int]] = []
    current_page = None
    for media_id, legacy_page, url, rank_value in candidates:
        page_id = ctx.expression_ids.get(legacy_page)
        text = _page_url(url)
        if page_id is None or text is None:
            continue
        candidate = ((page_id, text), int(rank_value), media_id)
        if legacy_page in merged_pages:
            across.append(candidate)
            continue
        if legacy_page != current_page:
            duplicates.update(_preferred_ids(page))
            page, current_page = [], legacy_page
        page.append(candidate)
    duplicates.update(_preferred_ids(page))
    duplicates.update(_preferred_ids(across))
    return duplicates


def _merged_pages(ctx: _Context) -> set[int]:
    """Legacy pages that share our page with another legacy page."""
    legacy_of_ours: dict[int, int] = {}
    merged: set[int] = set()
    for legacy, ours in ctx.expression_ids.items():
        other = legacy_of_ours.setdefault(ours, legacy)
        if other != legacy:
            merged.update((legacy, other))
    return merged


def _import_media(ctx: _Context) -> None:
    counts = ctx.counts("media")
    schema = ctx.schema
    if schema.has("media", "analyzed_at"):
        # Keep the analysed copy of duplicated rows, a successful analysis first.
        error = "COALESCE(m.\"analysis_error\", '') = ''" if schema.has("media", "analysis_error") else "1"
        rank = f'CASE WHEN m."analyzed_at" IS NULL OR m."analyzed_at" = \'\' THEN 0 WHEN {error} THEN 2 ELSE 1 END'
    else:
        rank = "0"
    candidates = ctx.conn.execute(
        f'SELECT m."id", m."expression_id", m."url", {rank} FROM "media" m '
        'JOIN "expression" e ON e."id" = m."expression_id" WHERE e."land_id" = ? ORDER BY m."expression_id"',
        (ctx.legacy_land_id,),
    )
    duplicates = _duplicate_media(ctx, candidates)

    status_probe = Media()
    select = schema.select_list("media", "m")
    sql = (
        f'SELECT {select} FROM "media" m JOIN "expression" e ON e."id" = m."expression_id" '
        'WHERE e."land_id" = ? ORDER BY m."expression_id", m."id"'
    )
    for batch in ctx.rows(sql, [ctx.legacy_land_id]):
        rows: list[tuple[tuple[int, str], dict[str, Any], dict[str, Any]]] = []
        for row in batch:
            page_id = ctx.expression_ids.get(row["expression_id"])
            if page_id is None:
                counts.skipped["page skipped"] += 1
                continue
            url = _page_url(row["url"])
            if url is None:
                counts.skipped["empty url"] += 1
                continue
            if row["id"] in duplicates:
                counts.skipped["duplicate url on the page"] += 1
                continue
            media_type = lv.legacy_media_type(row["type"])
            if media_type is None:
                counts.skipped["unknown type"] += 1
                continue
            values = {
                "expression_id": page_id,
                "url": url,
                "type": media_type,
                **_media_analysis_values(ctx, row, status_probe),
            }
            rows.append(((page_id, url), values, {}))
        existing: dict[tuple[int, str], Media] = {}
        if rows and not ctx.land_is_new:
            page_ids = {key[0] for key, _, _ in rows}
            existing = {
                (media.expression_id, media.url): media for media in Media.objects.filter(expression_id__in=page_ids)
            }
            for index, (key, values, create_only) in enumerate(rows):
                ours = existing.get(key)
                if ours is not None and _ours_is_newer(ours, values):
                    ctx.report.warnings["media analysed again since: our analysis kept"] += 1
                    rows[index] = (key, {name: values[name] for name in _MEDIA_CRAWLER_FIELDS}, create_only)
        _upsert(Media, rows, existing, counts, ctx.batch_size, new_ids=False)
        ctx.notify("media", len(batch))
