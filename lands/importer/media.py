"""Media of the pages, with the crawler's analysis values; a newer analysis of ours wins."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import islice
from typing import Any

from django.db import connection

from lands.errors import UnreadableLegacyValue
from lands.importer import values as lv
from lands.importer.context import (
    Adapters,
    _column_adapters,
    _Context,
    _max_length,
    _upsert,
    column_rows,
    write_prepared_rows,
)
from lands.importer.pages import _page_url, _preferred_ids
from lands.importer.source import KNOWN_COLUMNS, reopen_legacy_database
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


_INT_RANGE = (-(2**31), 2**31 - 1)  # coerce_int's default bounds


def _media_reader(ctx: _Context) -> Callable[[tuple[Any, ...], bool], dict[str, Any]]:
    """The function that reads the analysis values of one legacy media row (a tuple of ``KNOWN_COLUMNS``).

    What each column needs is worked out once per land, not once per value; values that are already what
    the lenient readers would return (None, integers in range) skip them.
    """
    has = ctx.schema.columns.get("media", frozenset()).__contains__
    at = {name: index for index, name in enumerate(KNOWN_COLUMNS["media"])}
    warnings = ctx.report.warnings
    low_int, high_int = _INT_RANGE
    integers = [
        (name, at[name], low, high, f"unreadable media.{name}")
        for name, (low, high) in _MEDIA_INTEGERS.items()
        if has(name)
    ]
    texts = [(name, at[name], _max_length(Media, name)) for name in ("format", "color_mode") if has(name)]
    readers: list[tuple[str, int, Callable[[Any], Any], str]] = [
        (name, at[name], parse, f"unreadable media.{name}")
        for name, parse in (
            ("has_transparency", lv.coerce_bool),
            ("aspect_ratio", lv.coerce_float),
            ("nsfw_score", lv.coerce_float),
            ("dominant_colors", lv.normalise_dominant_colors),
            ("websafe_colors", lv.normalise_websafe_colors),
            ("exif_data", lv.normalise_exif),
            ("content_tags", lv.parse_legacy_literal),
        )
        if has(name)
    ]
    # For a row to be inserted the colour columns are made as their stored JSON text (no dicts to encode).
    insert_parsers = {"dominant_colors": lv.dominant_colors_json, "websafe_colors": lv.websafe_colors_json}
    insert_readers = [(name, index, insert_parsers.get(name, parse), label) for name, index, parse, label in readers]
    has_format, has_exif, has_tags = has("format"), has("exif_data"), has("content_tags")
    has_analyzed_at, has_error = has("analyzed_at"), has("analysis_error")
    hash_at = at["image_hash"] if has("image_hash") else None
    analyzed_at_at, error_at = at["analyzed_at"], at["analysis_error"]
    hash_length = _max_length(Media, "image_hash")
    exif_lengths = [_max_length(Media, name) for name in ("exif_make", "exif_model", "exif_datetime")]
    status_probe = Media()

    def read(row: tuple[Any, ...], new: bool = False) -> dict[str, Any]:
        """The row's values; with ``new``, a JSON column may hold ``JsonText``, which only the insert takes."""
        values: dict[str, Any] = {}
        for name, index, low, high, label in integers:
            raw = row[index]
            if raw is None:
                value = None
            elif raw.__class__ is int and low_int <= raw <= high_int:
                value = raw
            else:
                try:
                    value = lv.coerce_int(raw)
                except UnreadableLegacyValue:
                    warnings[label] += 1
                    value = None
            if value is not None and not low <= value <= high:
                warnings[label] += 1
                value = None
            values[name] = value
        for name, index, length in texts:
            values[name] = lv.coerce_text(row[index], length)
        if has_format:
            values["mime_type"] = lv.mime_type_for_format(values["format"])
        for name, index, parse, label in insert_readers if new else readers:
            raw = row[index]
            if raw is None:
                values[name] = None
                continue
            try:
                values[name] = parse(raw)
            except UnreadableLegacyValue:
                warnings[label] += 1
                values[name] = None
        if has_exif:
            make, model, taken = lv.exif_summary(values["exif_data"])
            values["exif_make"] = lv.coerce_text(make, exif_lengths[0])
            values["exif_model"] = lv.coerce_text(model, exif_lengths[1])
            values["exif_datetime"] = lv.coerce_text(taken, exif_lengths[2])
        if has_tags:
            values["content_tags"] = lv.to_json_safe(values["content_tags"])
        if hash_at is not None:
            digest = lv.coerce_text(row[hash_at], hash_length)
            values["image_hash"] = (digest.strip().lower() or None) if digest else None
        analyzed_at = None
        if has_analyzed_at:
            raw = row[analyzed_at_at]
            if raw is not None:
                try:
                    analyzed_at = lv.parse_legacy_datetime(raw)
                except UnreadableLegacyValue:
                    warnings["unreadable media.analyzed_at"] += 1
            error = lv.coerce_text(row[error_at]) if has_error else None
            status = lv.legacy_status(analyzed_at, error)
            if status == AnalysisStatus.DONE and not _is_real_result(values):
                # Not analysed as far as we can tell: the next job takes it; its values stay, marked as the
                # crawler's.
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
        holds_values = list(map(values.get, _MEDIA_VALUE_FIELDS)).count(None) < len(_MEDIA_VALUE_FIELDS)
        values["analysis_version"] = CRAWLER_ANALYSIS_VERSION if holds_values else None
        values["values_at"] = analyzed_at if holds_values else None
        return values

    return read


def _read_column(parse: Callable[[Any], Any], raw: list[Any], warnings: Counter[str], label: str) -> list[Any]:
    """``parse`` of every value of a column, each read once (None stays None); a value it cannot read is None and
    a warning."""
    read: list[Any] = []
    append = read.append
    count = len(raw)
    while len(read) < count:
        try:
            for value in islice(raw, len(read), None):
                append(None if value is None else parse(value))
        except UnreadableLegacyValue:
            warnings[label] += 1
            append(None)
    return read


def _media_column_reader(ctx: _Context) -> Callable[[list[tuple[Any, ...]]], dict[str, list[Any]]]:
    """``_media_reader`` for rows to be inserted, a batch at a time and column by column: the batch's values of
    each column are read in one pass, and no dict is made per row. Gives attribute name -> the batch's values
    (the names ``_media_reader`` gives for a new row, with the same values and warnings)."""
    has = ctx.schema.columns.get("media", frozenset()).__contains__
    at = {name: index for index, name in enumerate(KNOWN_COLUMNS["media"])}
    warnings = ctx.report.warnings
    low_int, high_int = _INT_RANGE
    integers = [(name, at[name], low, high) for name, (low, high) in _MEDIA_INTEGERS.items() if has(name)]
    texts = [(name, at[name], _max_length(Media, name)) for name in ("format", "color_mode") if has(name)]
    readers = [
        (name, at[name], parse)
        for name, parse in (
            ("has_transparency", lv.coerce_bool),
            ("aspect_ratio", lv.coerce_float),
            ("nsfw_score", lv.coerce_float),
            ("dominant_colors", lv.dominant_colors_json),
            ("websafe_colors", lv.websafe_colors_json),
            ("exif_data", lv.normalise_exif),
            ("content_tags", lv.parse_legacy_literal),
        )
        if has(name)
    ]
    has_format, has_exif, has_tags = has("format"), has("exif_data"), has("content_tags")
    has_analyzed_at, has_error = has("analyzed_at"), has("analysis_error")
    hash_length = _max_length(Media, "image_hash")
    exif_lengths = [_max_length(Media, name) for name in ("exif_make", "exif_model", "exif_datetime")]
    status_probe = Media()
    done, failed, pending = AnalysisStatus.DONE, AnalysisStatus.FAILED, AnalysisStatus.PENDING

    def integer_reader(low: int, high: int) -> Callable[[Any], Any]:
        def parse(raw: Any) -> Any:
            value = raw if raw.__class__ is int and low_int <= raw <= high_int else lv.coerce_int(raw)
            if value is not None and not low <= value <= high:
                raise UnreadableLegacyValue(f"{value} out of range")
            return value

        return parse

    integer_parsers = {name: integer_reader(low, high) for name, _, low, high in integers}

    def read(rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
        count = len(rows)
        raw = list(zip(*rows, strict=True)) if rows else [()] * len(at)
        columns: dict[str, list[Any]] = {}
        for name, index, low, high in integers:
            both_low, both_high = max(low, low_int), min(high, high_int)
            values = raw[index]
            if all(value is None or (value.__class__ is int and both_low <= value <= both_high) for value in values):
                columns[name] = list(values)
            else:
                columns[name] = _read_column(integer_parsers[name], list(values), warnings, f"unreadable media.{name}")
        for name, index, length in texts:
            columns[name] = lv.coerce_texts(raw[index], length)
        if has_format:
            columns["mime_type"] = list(map(lv.mime_type_for_format, columns["format"]))
        for name, index, parse in readers:
            columns[name] = _read_column(parse, list(raw[index]), warnings, f"unreadable media.{name}")
        if has_exif:
            summaries = list(map(lv.exif_summary, columns["exif_data"]))
            for position, (name, length) in enumerate(
                zip(("exif_make", "exif_model", "exif_datetime"), exif_lengths, strict=True)
            ):
                columns[name] = lv.coerce_texts([summary[position] for summary in summaries], length)
        if has_tags:
            columns["content_tags"] = list(map(lv.to_json_safe, columns["content_tags"]))
        if has("image_hash"):
            columns["image_hash"] = [
                (digest.strip().lower() or None) if digest else None
                for digest in lv.coerce_texts(raw[at["image_hash"]], hash_length)
            ]
        nothing = [None] * count
        analyzed = nothing
        if has_analyzed_at:
            analyzed = _read_column(
                lv.parse_legacy_datetime, list(raw[at["analyzed_at"]]), warnings, "unreadable media.analyzed_at"
            )
            errors = lv.coerce_texts(raw[at["analysis_error"]]) if has_error else nothing
            widths, heights = columns.get("width", nothing), columns.get("height", nothing)
            formats, mimes = columns.get("format", nothing), columns.get("mime_type", nothing)
            statuses, processed, classes = [], [], []
            for when, error, width, height, image_format, mime in zip(
                analyzed, errors, widths, heights, formats, mimes, strict=True
            ):
                status = lv.legacy_status(when, error)
                if status == done and not (
                    width is not None and height is not None and width > 0 and height > 0 and bool(image_format or mime)
                ):
                    # As _media_reader: not analysed as far as we can tell.
                    status = pending
                status_probe.set_status(status)
                statuses.append(status_probe.analysis_status)
                processed.append(status_probe.is_processed)
                classes.append(lv.classify_legacy_error(error) if status == failed else None)
            columns.update(
                analyzed_at=analyzed,
                analysis_error=errors,
                analysis_status=statuses,
                is_processed=processed,
                error_class=classes,
            )
        value_columns = [columns.get(name, nothing) for name in _MEDIA_VALUE_FIELDS]
        holds = [held.count(None) < len(held) for held in zip(*value_columns, strict=True)]
        columns["analysis_version"] = [CRAWLER_ANALYSIS_VERSION if held else None for held in holds]
        columns["values_at"] = [when if held else None for when, held in zip(analyzed, holds, strict=True)]
        return columns

    return read


# Part of every row's digest: a change in how rows are read (a new column, another normalisation) must
# change it, so that the next import reads every row again.
_DIGEST_VERSION = 1


def _row_digester(ctx: _Context) -> Callable[[tuple[Any, ...]], str]:
    """The digest of a legacy media row: its columns but the ids (our row's key says where it goes), which
    columns the file has, and how they are read. Equal digests mean the row reads as it did last time."""
    present = sorted(ctx.schema.columns.get("media", frozenset()) & set(KNOWN_COLUMNS["media"]))
    prefix = f"{_DIGEST_VERSION}|{','.join(present)}|".encode()

    def digest(row: tuple[Any, ...]) -> str:
        data = prefix + repr(row[2:]).encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=8).hexdigest()

    return digest


def _legacy_is_older(ours: datetime, raw: Any) -> bool:
    """``_ours_is_newer`` for a row whose values were not read: only its date is."""
    try:
        legacy = lv.parse_legacy_datetime(raw)
    except UnreadableLegacyValue:
        legacy = None
    return legacy is None or ours > legacy


def _ours_is_newer(ours: Media, values: dict[str, Any]) -> bool:
    if ours.analyzed_at is None:
        return False
    legacy = values.get("analyzed_at")
    return legacy is None or ours.analyzed_at > legacy


def _duplicate_media(ctx: _Context, candidates: Iterable[Sequence[Sequence[Any]]]) -> dict[int, int]:
    """Media rows that repeat another one of the same page (our page, same URL): loser id -> winner id.

    ``candidates`` are batches of ``(id, legacy page id, url, rank)`` ordered by legacy page. Only the media of
    the page at hand are held, except for pages merged with another one (duplicated page URLs), whose media are
    compared across the whole land; memory grows with the duplicates, not with the land.
    """
    merged_pages = ctx.expression_ids.shared_keys()
    duplicates: dict[int, int] = {}
    across: list[tuple[tuple[int, str], int, int]] = []
    page: list[tuple[tuple[int, str], int, int]] = []
    current_page = None
    for batch in candidates:
        page_ids = ctx.expression_ids.get_many([row[1] for row in batch])
        for (media_id, legacy_page, url, rank_value), page_id in zip(batch, page_ids, strict=True):
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


# A first import of at least this many media into SQLite builds the media table's secondary indexes once, after
# its rows, instead of keeping them up to date row by row (see _secondary_indexes_built_after).
INDEX_REBUILD_MIN_ROWS = 20_000


@contextmanager
def _secondary_indexes_built_after(ctx: _Context, incoming: int) -> Iterator[None]:
    """On SQLite, for a new land bringing more media than the table holds: the media table's non-unique
    indexes dropped for the block's writes and created again at its end, in the land's transaction.

    Keeping eleven indexes up to date row by row costs SQLite about as much as writing the rows; building each
    once reads the whole table, every land's media included, so it only pays when the land's media are most of
    it. SQLite's DDL is transactional: a failure anywhere in the land rolls the drop back with the rows, and the
    schema is as it was. The unique index stays (it keeps the key). Not done on PostgreSQL, where ``DROP INDEX``
    would stop every reader of the table until the commit.
    """
    if connection.vendor != "sqlite" or not ctx.land_is_new or incoming < INDEX_REBUILD_MIN_ROWS:
        yield
        return
    assert connection.in_atomic_block, "indexes are only dropped inside the land's transaction"
    table = Media._meta.db_table
    with connection.cursor() as cursor:
        # Counts no further than needed: the question is only whether the table holds fewer rows.
        cursor.execute(f'SELECT COUNT(*) FROM (SELECT 1 FROM "{table}" LIMIT %s)', [incoming])
        if cursor.fetchone()[0] >= incoming:
            yield
            return
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL "
            "ORDER BY name",
            [table],
        )
        indexes = [
            (name, sql) for name, sql in cursor.fetchall() if not sql.lstrip().upper().startswith("CREATE UNIQUE")
        ]
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    yield
    with connection.cursor() as cursor:
        for _, sql in indexes:
            cursor.execute(sql)


def _import_media(ctx: _Context) -> None:
    incoming = ctx.conn.execute(
        'SELECT COUNT(*) FROM "media" m JOIN "expression" e ON e."id" = m."expression_id" WHERE e."land_id" = ?',
        (ctx.legacy_land_id,),
    ).fetchone()[0]
    with _secondary_indexes_built_after(ctx, incoming):
        _import_media_rows(ctx, incoming)


def _media_select(ctx: _Context) -> str:
    return (
        f'SELECT {ctx.schema.select_list("media", "m")} FROM "media" m JOIN "expression" e '
        'ON e."id" = m."expression_id" WHERE e."land_id" = ? ORDER BY m."expression_id", m."id"'
    )


_AT = {name: index for index, name in enumerate(KNOWN_COLUMNS["media"])}


def _picked_rows(
    ctx: _Context, batch: list[tuple[Any, ...]], duplicates: dict[int, int]
) -> list[tuple[tuple[int, str], str, tuple[Any, ...]]]:
    """The rows of a batch to import, each with its key (our page, URL) and media type; the others counted as
    skipped."""
    skipped = ctx.counts("media").skipped
    if not batch:
        return []
    # Column by column: the page ids, URLs and types of the batch in a few passes, then the rows picked in order.
    columns = list(zip(*batch, strict=True))
    page_ids = ctx.expression_ids.get_many(columns[_AT["expression_id"]])
    urls = [None if text is None else (text.strip() or None) for text in lv.coerce_texts(columns[_AT["url"]])]
    types = lv.legacy_media_types(columns[_AT["type"]])
    picked: list[tuple[tuple[int, str], str, tuple[Any, ...]]] = []
    for row, legacy_id, page_id, url, media_type in zip(batch, columns[_AT["id"]], page_ids, urls, types, strict=True):
        if page_id is None:
            skipped["page skipped"] += 1
            continue
        if url is None:
            skipped["empty url"] += 1
            continue
        if legacy_id in duplicates:
            skipped["duplicate url on the page"] += 1
            continue
        if media_type is None:
            skipped["unknown type"] += 1
            continue
        picked.append(((page_id, url), media_type, row))
    return picked


def _media_duplicates(ctx: _Context) -> dict[int, int]:
    schema = ctx.schema
    if schema.has("media", "analyzed_at"):
        # Keep the analysed copy of duplicated rows, a successful analysis first.
        error = "COALESCE(m.\"analysis_error\", '') = ''" if schema.has("media", "analysis_error") else "1"
        rank = f'CASE WHEN m."analyzed_at" IS NULL OR m."analyzed_at" = \'\' THEN 0 WHEN {error} THEN 2 ELSE 1 END'
    else:
        rank = "0"
    candidates = ctx.rows(
        f'SELECT m."id", m."expression_id", m."url", {rank} FROM "media" m '
        'JOIN "expression" e ON e."id" = m."expression_id" WHERE e."land_id" = ? ORDER BY m."expression_id"',
        [ctx.legacy_land_id],
    )
    return _duplicate_media(ctx, candidates)


def _import_media_rows(ctx: _Context, incoming: int) -> None:
    duplicates = _media_duplicates(ctx)
    if ctx.land_is_new:
        _insert_new_media(ctx, duplicates, incoming)
        return
    counts = ctx.counts("media")
    read_values = _media_reader(ctx)
    digest_of = _row_digester(ctx)
    analyzed_at = _AT["analyzed_at"]
    for batch in ctx.tuples(_media_select(ctx), [ctx.legacy_land_id]):
        picked = _picked_rows(ctx, batch, duplicates)
        # Our media of these pages: their key, the digest of the row they were imported from, their date.
        stored: dict[tuple[int, str], tuple[str | None, datetime | None]] = {}
        if picked:
            stored = {
                (page, url): (digest, when)
                for page, url, digest, when in Media.objects.filter(
                    expression_id__in={key[0] for key, _, _ in picked}
                ).values_list("expression_id", "url", "legacy_digest", "analyzed_at")
            }
        rows: list[tuple[tuple[int, str], dict[str, Any], dict[str, Any]]] = []
        for key, media_type, row in picked:
            digest = digest_of(row)
            ours = stored.get(key)
            if ours is not None and ours[0] == digest:
                # The row this media was imported from, unchanged: nothing to read or compare.
                if ours[1] is not None and _legacy_is_older(ours[1], row[analyzed_at]):
                    ctx.report.warnings["media analysed again since: our analysis kept"] += 1
                counts.unchanged += 1
                continue
            values = {"expression_id": key[0], "url": key[1], "type": media_type, **read_values(row, ours is None)}
            rows.append((key, values, {"legacy_digest": digest}))
        existing: dict[tuple[int, str], Media] = {}
        changed_pages = {key[0] for key, _, _ in rows if key in stored}
        if changed_pages:
            existing = {
                (media.expression_id, media.url): media
                for media in Media.objects.filter(expression_id__in=changed_pages)
            }
            for index, (key, values, create_only) in enumerate(rows):
                ours_media = existing.get(key)
                if ours_media is not None and _ours_is_newer(ours_media, values):
                    ctx.report.warnings["media analysed again since: our analysis kept"] += 1
                    rows[index] = (key, {name: values[name] for name in _MEDIA_CRAWLER_FIELDS}, create_only)
        _upsert(Media, rows, existing, counts, ctx.batch_size, new_ids=False, quiet=("legacy_digest",))
        ctx.notify("media", len(batch))


# The media of a new land: the batches of rows to insert, each with the number of legacy rows it came from.
_NewMediaBatches = Iterator[tuple[list[tuple[Any, ...]], int]]


def _new_media_batches(ctx: _Context, duplicates: dict[int, int], adapters: Adapters) -> _NewMediaBatches:
    """Every row of a new land is inserted, its values written as read: nothing of ours to compare with. The rows
    come out in the driver's terms, so that making them needs no connection to our database."""
    read_columns = _media_column_reader(ctx)
    digest_of = _row_digester(ctx)
    for batch in ctx.tuples(_media_select(ctx), [ctx.legacy_land_id]):
        picked = _picked_rows(ctx, batch, duplicates)
        rows: list[tuple[Any, ...]] = []
        if picked:
            legacy_rows = [row for _, _, row in picked]
            columns = read_columns(legacy_rows)
            columns["expression_id"] = [page_id for (page_id, _), _, _ in picked]
            columns["url"] = [url for (_, url), _, _ in picked]
            columns["type"] = [media_type for _, media_type, _ in picked]
            columns["legacy_digest"] = list(map(digest_of, legacy_rows))
            rows = list(column_rows(columns, len(picked), adapters))
        yield rows, len(batch)


# A new land of at least this many media is read by a process of its own (see _read_in_child).
CHILD_READER_MIN_ROWS = 20_000


def _insert_new_media(ctx: _Context, duplicates: dict[int, int], incoming: int) -> None:
    counts = ctx.counts("media")
    adapters = _column_adapters(Media)
    if incoming >= CHILD_READER_MIN_ROWS and ctx.path and "fork" in multiprocessing.get_all_start_methods():
        batches = _read_in_child(ctx, duplicates, adapters)
    else:
        batches = _new_media_batches(ctx, duplicates, adapters)
    for rows, size in batches:
        if rows:
            write_prepared_rows(Media, adapters, rows)
            counts.created += len(rows)
        ctx.notify("media", size)


def _read_in_child(ctx: _Context, duplicates: dict[int, int], adapters: Adapters) -> _NewMediaBatches:
    """``_new_media_batches`` made by a forked process while this one writes the rows it sends: the reading of
    the legacy values and the database's write each take a core.

    The child opens the legacy file again (a connection is not carried across a fork) and never touches our
    database; the land's transaction stays in this process. Each batch comes with the skipped rows and warnings
    it counted, added here. The pipe holds a batch or two: the child waits while this process writes, so memory
    stays that of a batch. A reading error in the child is raised here as the same ``sqlite3`` error; anything
    else as a ``RuntimeError`` with the child's traceback.
    """
    receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(
        target=_child_reader, args=(ctx, duplicates, adapters, sender), daemon=True
    )
    child.start()
    sender.close()
    try:
        skipped, warnings = ctx.counts("media").skipped, ctx.report.warnings
        while True:
            try:
                message = receiver.recv()
            except EOFError:
                raise RuntimeError(f"the media reader ended without a word (exit code {child.exitcode})") from None
            kind = message[0]
            if kind == "batch":
                _, rows, size, batch_skipped, batch_warnings = message
                skipped.update(batch_skipped)
                warnings.update(batch_warnings)
                yield rows, size
            elif kind == "end":
                return
            elif kind == "sqlite":
                error_class = getattr(sqlite3, message[1], sqlite3.Error)
                raise error_class(message[2])
            else:
                raise RuntimeError(f"the media reader failed: {message[1]}")
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()


def _child_reader(ctx: _Context, duplicates: dict[int, int], adapters: Adapters, sender: Any) -> None:
    try:
        ctx.conn = reopen_legacy_database(ctx.path)
        # This process's copies of the counters hold what the parent counted before: sent as per batch deltas.
        skipped, warnings = ctx.counts("media").skipped, ctx.report.warnings
        skipped.clear()
        warnings.clear()
        for rows, size in _new_media_batches(ctx, duplicates, adapters):
            sender.send(("batch", rows, size, dict(skipped), dict(warnings)))
            skipped.clear()
            warnings.clear()
        sender.send(("end",))
    except sqlite3.Error as exc:
        sender.send(("sqlite", type(exc).__name__, str(exc)))
    except BaseException:
        sender.send(("failed", traceback.format_exc()))
    finally:
        sender.close()
